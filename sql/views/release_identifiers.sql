-- release_identifiers: one row per identifier of a release (releases.identifiers: barcodes, matrix numbers, ...).
-- grain: one row per (release, element of releases.identifiers); key: (release_id, ordinal).
-- source: discogs_releases.identifiers. A release whose identifiers is null or empty has no rows.
-- columns:
--   release_id: the release
--   ordinal: 1-based position in identifiers, in document order
--   identifier_type: kind, e.g. 'Barcode', 'Matrix / Runout', 'Rights Society'
--   description: free-text qualifier, e.g. 'Side A' (null or '' when none)
--   value: the identifier as written

with releases as (
    select release_id, identifiers from discogs_releases
),

elements as (
    select
        release_id,
        generate_subscripts(identifiers, 1) as ordinal,
        unnest(identifiers) as entry
    from releases
),

final as (
    select
        release_id,
        ordinal,
        entry.type as identifier_type,
        entry.description as description,
        entry.value as value
    from elements
)

select * from final
