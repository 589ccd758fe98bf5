-- Which styles cover the most distinct works? Styles ranked by master releases (the style
-- labels of a master, as the Discogs20 recipe uses them), with release groups for comparison.
-- grain: one row per style; key: style.
-- columns: style; masters (master releases tagged with the style in the masters dump);
--   release_groups (distinct groups among releases with the style: the master_id, or the
--   release itself when it has no master); releases (distinct releases with the style).
-- sources: master_styles, release_styles, discogs_releases.

with master_counts as (
    select style, count(distinct master_id) as masters
    from master_styles
    group by style
),

release_counts as (
    select
        s.style,
        count(distinct coalesce(r.master_id, -r.release_id)) as release_groups,
        count(distinct r.release_id) as releases
    from release_styles s
    join discogs_releases r using (release_id)
    group by s.style
),

final as (
    select
        coalesce(m.style, r.style) as style,
        coalesce(m.masters, 0) as masters,
        coalesce(r.release_groups, 0) as release_groups,
        coalesce(r.releases, 0) as releases
    from master_counts m
    full outer join release_counts r using (style)
)

select * from final
order by masters desc, release_groups desc, style
