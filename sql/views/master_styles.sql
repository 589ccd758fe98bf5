-- master_styles: one row per style of a master release (masters.styles).
-- grain: one row per (master, element of masters.styles); key: (master_id, ordinal).
-- source: discogs_masters.styles. A master whose styles is null or empty has no rows.
-- columns:
--   master_id: the master
--   ordinal: 1-based position in styles, in document order
--   style: style name

with masters as (
    select master_id, styles from discogs_masters
),

elements as (
    select
        master_id,
        generate_subscripts(styles, 1) as ordinal,
        unnest(styles) as entry
    from masters
),

final as (
    select
        master_id,
        ordinal,
        entry as style
    from elements
)

select * from final
