-- How long are the playlists (entries stored per playlist)?
-- grain: one row per length bucket; key: bucket_start.
-- columns: bucket_start, bucket_end (inclusive entry counts: 0, 1-4, 5-9, 10-24, 25-49, 50-99,
--   100-249, 250-499, 500-999, 1000+); playlists; share (of all playlists); entries (sum of their
--   lengths).
-- sources: playlists_playlists.

with playlists as (
    select num_entries from playlists_playlists
),

bucketed as (
    select
        case
            when num_entries = 0 then 0
            when num_entries < 5 then 1
            when num_entries < 10 then 5
            when num_entries < 25 then 10
            when num_entries < 50 then 25
            when num_entries < 100 then 50
            when num_entries < 250 then 100
            when num_entries < 500 then 250
            when num_entries < 1000 then 500
            else 1000
        end as bucket_start,
        num_entries
    from playlists
),

final as (
    select
        bucket_start,
        case bucket_start
            when 0 then 0 when 1 then 4 when 5 then 9 when 10 then 24 when 25 then 49
            when 50 then 99 when 100 then 249 when 250 then 499 when 500 then 999
        end as bucket_end,
        count(*) as playlists,
        round(count(*) / sum(count(*)) over (), 6) as share,
        sum(num_entries) as entries
    from bucketed
    group by bucket_start
)

select * from final
order by bucket_start
