-- release_styles: one row per style of a release (releases.styles).
-- grain: one row per (release, element of releases.styles); key: (release_id, ordinal).
-- source: discogs_releases.styles. A release whose styles is null or empty has no rows.
-- columns:
--   release_id: the release
--   ordinal: 1-based position in styles, in document order
--   style: style name, e.g. 'Deep House'

with releases as (
    select release_id, styles from discogs_releases
),

elements as (
    select
        release_id,
        generate_subscripts(styles, 1) as ordinal,
        unnest(styles) as entry
    from releases
),

final as (
    select
        release_id,
        ordinal,
        entry as style
    from elements
)

select * from final
