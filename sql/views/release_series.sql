-- release_series: one row per series entry of a release (releases.series).
-- grain: one row per (release, element of releases.series); key: (release_id, ordinal).
-- source: discogs_releases.series. A release whose series is null or empty has no rows.
-- columns:
--   release_id: the release
--   ordinal: 1-based position in series, in document order
--   series_id: Discogs label id of the series
--   series_name: series name
--   catno: number within the series as written

with releases as (
    select release_id, series from discogs_releases
),

elements as (
    select
        release_id,
        generate_subscripts(series, 1) as ordinal,
        unnest(series) as entry
    from releases
),

final as (
    select
        release_id,
        ordinal,
        entry.id as series_id,
        entry.name as series_name,
        entry.catno as catno
    from elements
)

select * from final
