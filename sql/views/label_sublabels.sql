-- label_sublabels: one row per sub-label of a label (labels.sublabels); label_id is the parent.
-- grain: one row per (label, element of labels.sublabels); key: (label_id, ordinal).
-- source: discogs_labels.sublabels. A label whose sublabels is null or empty has no rows.
-- columns:
--   label_id: the label
--   ordinal: 1-based position in sublabels, in document order
--   sublabel_id: label id of the sub-label
--   sublabel_name: name of the sub-label

with labels as (
    select label_id, sublabels from discogs_labels
),

elements as (
    select
        label_id,
        generate_subscripts(sublabels, 1) as ordinal,
        unnest(sublabels) as entry
    from labels
),

final as (
    select
        label_id,
        ordinal,
        entry.id as sublabel_id,
        entry.name as sublabel_name
    from elements
)

select * from final
