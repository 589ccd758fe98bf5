-- label_urls: one row per URL of a label (labels.urls).
-- grain: one row per (label, element of labels.urls); key: (label_id, ordinal).
-- source: discogs_labels.urls. A label whose urls is null or empty has no rows.
-- columns:
--   label_id: the label
--   ordinal: 1-based position in urls, in document order
--   url: the URL as written

with labels as (
    select label_id, urls from discogs_labels
),

elements as (
    select
        label_id,
        generate_subscripts(urls, 1) as ordinal,
        unnest(urls) as entry
    from labels
),

final as (
    select
        label_id,
        ordinal,
        entry as url
    from elements
)

select * from final
