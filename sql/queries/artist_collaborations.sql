-- Which artists release music together? Pairs of main artists credited together on releases.
-- grain: one row per unordered artist pair (artist_a_id < artist_b_id); key: (artist_a_id, artist_b_id).
-- columns: artist_a_id, artist_a_name, artist_b_id, artist_b_name; releases (distinct releases
--   crediting both as main artists); masters (distinct master releases among them);
--   first_year, last_year (range of those releases' years).
-- Only credits with an artist id count. For credits of any kind (producers, writers, ...) use
--   release_extraartists in place of release_artists.
-- sources: release_artists, discogs_releases.

with credits as (
    select distinct release_id, artist_id, artist_name
    from release_artists
    where artist_id is not null
),

pairs as (
    select a.release_id, a.artist_id as artist_a_id, a.artist_name as artist_a_name,
           b.artist_id as artist_b_id, b.artist_name as artist_b_name
    from credits a
    join credits b on a.release_id = b.release_id and a.artist_id < b.artist_id
),

final as (
    select
        p.artist_a_id,
        any_value(p.artist_a_name) as artist_a_name,
        p.artist_b_id,
        any_value(p.artist_b_name) as artist_b_name,
        count(distinct p.release_id) as releases,
        count(distinct r.master_id) as masters,
        min(r.year) as first_year,
        max(r.year) as last_year
    from pairs p
    join discogs_releases r using (release_id)
    group by p.artist_a_id, p.artist_b_id
)

select * from final
order by releases desc, artist_a_id, artist_b_id
