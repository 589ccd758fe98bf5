-- Which styles go with which genres? Genre-style pairs by the releases that carry both.
-- grain: one row per (genre, style) pair seen on at least one release; key: (genre, style).
-- columns: genre; style; releases (distinct releases with both); share_of_genre (fraction of the
--   genre's releases that have the style); share_of_style (fraction of the style's releases
--   that have the genre).
-- sources: release_genres, release_styles.

with genres as (
    select distinct release_id, genre from release_genres
),

styles as (
    select distinct release_id, style from release_styles
),

pairs as (
    select g.genre, s.style, count(*) as releases
    from genres g
    join styles s using (release_id)
    group by all
),

genre_totals as (
    select genre, count(*) as n from genres group by genre
),

style_totals as (
    select style, count(*) as n from styles group by style
),

final as (
    select
        p.genre,
        p.style,
        p.releases,
        round(p.releases / gt.n, 6) as share_of_genre,
        round(p.releases / st.n, 6) as share_of_style
    from pairs p
    join genre_totals gt using (genre)
    join style_totals st using (style)
)

select * from final
order by releases desc, genre, style
