-- How many tracks does each master release have, and how much do its versions differ?
-- grain: one row per master release present in the releases table; key: master_id.
-- columns: master_id; title (from the masters dump when ingested, else the main release's title);
--   versions (releases of the master in the dump); main_release; main_release_tracks (playable
--   tracks of the main release: tracks and sub-tracks, not headings or index tracks);
--   min_tracks / max_tracks (playable tracks per version); distinct_titles (distinct track
--   titles, case-insensitive, across all versions).
-- sources: release_tracks, discogs_releases, discogs_masters.

-- Each CTE is read once (DuckDB materialises a CTE read twice, and memory would grow with the input).
with playable_per_release as (
    select release_id, count(*) as tracks, list(distinct lower(trim(title))) as titles
    from release_tracks
    where coalesce(track_type, 'track') not in ('heading', 'index')
    group by release_id
),

versions as (
    select
        r.release_id, r.master_id, r.is_main_release, r.title,
        coalesce(p.tracks, 0) as tracks, coalesce(p.titles, []) as titles
    from discogs_releases r
    left join playable_per_release p using (release_id)
    where r.master_id is not null
),

masters as (
    select master_id, main_release, title from discogs_masters
),

final as (
    select
        v.master_id,
        coalesce(any_value(m.title), any_value(v.title) filter (where v.is_main_release)) as title,
        count(*) as versions,
        coalesce(any_value(m.main_release),
                 any_value(v.release_id) filter (where v.is_main_release)) as main_release,
        any_value(v.tracks) filter (where v.release_id = coalesce(m.main_release, -1)
                                    or (m.main_release is null and v.is_main_release)) as main_release_tracks,
        min(v.tracks) as min_tracks,
        max(v.tracks) as max_tracks,
        len(list_distinct(flatten(list(v.titles)))) as distinct_titles
    from versions v
    left join masters m using (master_id)
    group by v.master_id
)

select * from final
order by versions desc, master_id
