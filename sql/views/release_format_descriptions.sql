-- release_format_descriptions: one row per description of a format entry of a release.
-- grain: one row per (release, format entry, description); key: (release_id, format_ordinal, ordinal).
-- source: release_formats.descriptions (a view over discogs_releases.formats).
-- columns:
--   release_id: the release
--   format_ordinal: the format entry (release_formats.ordinal)
--   format_name: medium of that format entry, e.g. 'Vinyl'
--   ordinal: 1-based position of the description within its format entry
--   description: e.g. 'LP', 'Album', '45 RPM', 'Limited Edition'

with formats as (
    select release_id, ordinal as format_ordinal, format_name, descriptions from release_formats
),

elements as (
    select
        release_id,
        format_ordinal,
        format_name,
        generate_subscripts(descriptions, 1) as ordinal,
        unnest(descriptions) as description
    from formats
),

final as (
    select release_id, format_ordinal, format_name, ordinal, description from elements
)

select * from final
