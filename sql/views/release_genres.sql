-- release_genres: one row per genre of a release (releases.genres).
-- grain: one row per (release, element of releases.genres); key: (release_id, ordinal).
-- source: discogs_releases.genres. A release whose genres is null or empty has no rows.
-- columns:
--   release_id: the release
--   ordinal: 1-based position in genres, in document order
--   genre: genre name, e.g. 'Electronic'

with releases as (
    select release_id, genres from discogs_releases
),

elements as (
    select
        release_id,
        generate_subscripts(genres, 1) as ordinal,
        unnest(genres) as entry
    from releases
),

final as (
    select
        release_id,
        ordinal,
        entry as genre
    from elements
)

select * from final
