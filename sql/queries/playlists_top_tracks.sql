-- Which tracks appear in the most playlists?
-- grain: one row per track key (the 100 most widespread); key: track_key.
-- columns: track_key; track_name, artist_name (first-seen metadata); playlists (distinct
--   playlists containing the track); entries (occurrences, repeats included); share (playlists / all
--   playlists).
-- sources: playlists_playlist_tracks, playlists_tracks, playlists_playlists.

with entries as (
    select playlist_id, track_key from playlists_playlist_tracks
),

tracks as (
    select track_key, track_name, artist_name from playlists_tracks
),

totals as (
    select count(*) as all_playlists from playlists_playlists
),

counted as (
    select track_key, count(distinct playlist_id) as playlists, count(*) as entries
    from entries
    group by track_key
),

final as (
    select
        c.track_key,
        t.track_name,
        t.artist_name,
        c.playlists,
        c.entries,
        round(c.playlists / totals.all_playlists, 6) as share
    from counted c
    left join tracks t using (track_key)
    cross join totals
)

select * from final
order by playlists desc, track_key
limit 100
