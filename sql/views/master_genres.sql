-- master_genres: one row per genre of a master release (masters.genres).
-- grain: one row per (master, element of masters.genres); key: (master_id, ordinal).
-- source: discogs_masters.genres. A master whose genres is null or empty has no rows.
-- columns:
--   master_id: the master
--   ordinal: 1-based position in genres, in document order
--   genre: genre name

with masters as (
    select master_id, genres from discogs_masters
),

elements as (
    select
        master_id,
        generate_subscripts(genres, 1) as ordinal,
        unnest(genres) as entry
    from masters
),

final as (
    select
        master_id,
        ordinal,
        entry as genre
    from elements
)

select * from final
