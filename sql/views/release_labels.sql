-- release_labels: one row per label entry of a release (releases.labels).
-- grain: one row per (release, element of releases.labels); key: (release_id, ordinal).
-- source: discogs_releases.labels. A release whose labels is null or empty has no rows.
-- columns:
--   release_id: the release
--   ordinal: 1-based position in labels, in document order
--   label_id: Discogs label id (null in older dumps, which have no label ids on releases)
--   label_name: label name as on the release
--   catno: catalogue number as written ('none' when the release has none)

with releases as (
    select release_id, labels from discogs_releases
),

elements as (
    select
        release_id,
        generate_subscripts(labels, 1) as ordinal,
        unnest(labels) as entry
    from releases
),

final as (
    select
        release_id,
        ordinal,
        entry.id as label_id,
        entry.name as label_name,
        entry.catno as catno
    from elements
)

select * from final
