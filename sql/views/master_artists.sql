-- master_artists: one row per artist credit of a master release (masters.artists).
-- grain: one row per (master, element of masters.artists); key: (master_id, ordinal).
-- source: discogs_masters.artists. A master whose artists is null or empty has no rows.
-- columns:
--   master_id: the master
--   ordinal: 1-based position in artists, in document order
--   artist_id: Discogs artist id
--   artist_name: artist name
--   anv: artist name variation ('' or null when none)
--   join_phrase: join text to the next credit ('' or null when none)
--   role: role text (usually empty)
--   tracks: tracks as written (usually empty)
--   credited_name: anv when given, else artist_name

with masters as (
    select master_id, artists from discogs_masters
),

elements as (
    select
        master_id,
        generate_subscripts(artists, 1) as ordinal,
        unnest(artists) as credit
    from masters
),

final as (
    select
        master_id,
        ordinal,
        credit.id as artist_id,
        credit.name as artist_name,
        credit.anv as anv,
        credit.join as join_phrase,
        credit.role as role,
        credit.tracks as tracks,
        coalesce(nullif(credit.anv, ''), credit.name) as credited_name
    from elements
)

select * from final
