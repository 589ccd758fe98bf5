-- Which labels have the most releases, over which years?
-- grain: one row per label; key: label_id (labels without an id, as in older dumps, are
--   grouped by name and have a null label_id).
-- columns: label_id; label_name (the most frequent name on its releases); releases (distinct
--   releases); catnos (distinct catalogue numbers other than 'none'); first_year, last_year
--   (range of release years); parent_label (from the labels dump when ingested and known).
-- sources: release_labels, discogs_releases, discogs_labels.

with entries as (
    select l.release_id, l.label_id, l.label_name, l.catno, r.year
    from release_labels l
    join discogs_releases r using (release_id)
),

per_label as (
    select
        label_id,
        mode(label_name) as label_name,
        count(distinct release_id) as releases,
        count(distinct nullif(lower(catno), 'none')) as catnos,
        min(year) as first_year,
        max(year) as last_year
    from entries
    group by label_id, case when label_id is null then label_name end
),

labels as (
    select label_id, parent_label.name as parent_label from discogs_labels
),

final as (
    select p.*, l.parent_label
    from per_label p
    left join labels l using (label_id)
)

select * from final
order by releases desc, label_name
