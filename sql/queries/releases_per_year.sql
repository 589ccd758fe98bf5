-- How is the catalogue spread over time? Releases and master releases per release year.
-- grain: one row per year (null year: releases without a parseable date); key: year.
-- columns: year; decade; releases; masters (distinct master releases among them);
--   main_releases (releases that are their master's main release).
-- sources: discogs_releases.

with releases as (
    select release_id, year, master_id, is_main_release from discogs_releases
),

final as (
    select
        year,
        (year // 10) * 10 as decade,
        count(*) as releases,
        count(distinct master_id) as masters,
        count(*) filter (where is_main_release) as main_releases
    from releases
    group by year
)

select * from final
order by year nulls last
