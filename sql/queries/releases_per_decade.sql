-- How is the catalogue spread over decades, and which genre dominates each?
-- grain: one row per decade (null: releases without a parseable year); key: decade.
-- columns: decade (e.g. 1990); releases; masters (distinct master releases); top_genre (the
--   genre on most of the decade's releases) and its share of them.
-- sources: discogs_releases, release_genres.

with releases as (
    select release_id, master_id, (year // 10) * 10 as decade from discogs_releases
),

genre_counts as (
    select r.decade, g.genre, count(distinct r.release_id) as n
    from releases r
    join release_genres g using (release_id)
    group by all
),

top_genres as (
    select decade, arg_max(genre, n) as top_genre, max(n) as top_genre_releases
    from genre_counts
    group by decade
),

final as (
    select
        r.decade,
        count(*) as releases,
        count(distinct r.master_id) as masters,
        any_value(t.top_genre) as top_genre,
        round(any_value(t.top_genre_releases) / count(*), 4) as top_genre_share
    from releases r
    left join top_genres t on t.decade is not distinct from r.decade
    group by r.decade
)

select * from final
order by decade nulls last
