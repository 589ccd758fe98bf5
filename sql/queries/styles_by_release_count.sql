-- Which styles are most used? Styles ranked by the number of releases tagged with them.
-- grain: one row per style; key: style.
-- columns: style; genres (the genres it appears under, most frequent first); releases (distinct
--   releases with the style); share (fraction of releases with any style that have it).
-- sources: release_styles, release_genres.

with styled as (
    select distinct release_id, style from release_styles
),

releases_with_styles as (
    select count(distinct release_id) as n from styled
),

style_genres as (
    select s.style, g.genre, count(distinct s.release_id) as releases
    from styled s
    join release_genres g using (release_id)
    group by all
),

genres_per_style as (
    select style, list(genre order by releases desc, genre) as genres
    from style_genres
    group by style
),

final as (
    select
        s.style,
        g.genres,
        count(*) as releases,
        round(count(*) / any_value(t.n), 6) as share
    from styled s
    cross join releases_with_styles t
    left join genres_per_style g using (style)
    group by s.style, g.genres
)

select * from final
order by releases desc, style
