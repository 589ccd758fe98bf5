-- release_formats: one row per format entry of a release (releases.formats), e.g. "2 x CD, Album".
-- grain: one row per (release, element of releases.formats); key: (release_id, ordinal).
-- source: discogs_releases.formats. See release_format_descriptions for one row per description.
-- columns:
--   release_id: the release
--   ordinal: 1-based position in formats, in document order
--   format_name: medium, e.g. 'Vinyl', 'CD', 'File'
--   qty: quantity as written in the dump (a string, kept as is)
--   quantity: qty as an integer; null when it is not a whole number
--   format_text: free text given with the format, e.g. 'Gatefold' ('' or null when none)
--   descriptions: list of descriptions in document order, e.g. ['LP', 'Album']
--   descriptions_text: the descriptions joined by ', ' (null when there are none)

with releases as (
    select release_id, formats from discogs_releases
),

elements as (
    select
        release_id,
        generate_subscripts(formats, 1) as ordinal,
        unnest(formats) as entry
    from releases
),

final as (
    select
        release_id,
        ordinal,
        entry.name as format_name,
        entry.qty as qty,
        try_cast(entry.qty as bigint) as quantity,
        entry.text as format_text,
        entry.descriptions as descriptions,
        nullif(array_to_string(entry.descriptions, ', '), '') as descriptions_text
    from elements
)

select * from final
