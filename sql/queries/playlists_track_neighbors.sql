-- What are the most co-occurring tracks of the most widespread tracks (with names)?
-- grain: one row per (track, neighbour) of the top-k co-occurrence table for the 20 tracks in the
--   most playlists; key: (track_key, rank).
-- columns: track_key, track_name, artist_name; rank (1 = most co-occurring); neighbor_key,
--   neighbor_name, neighbor_artist; count (playlists containing both).
-- sources: playlists_cooccurrence (run `discogs-tools cooccurrence`), playlists_playlist_tracks,
--   playlists_tracks.

with cooccurrence as (
    select track_key, neighbor_key, count, rank from playlists_cooccurrence
),

tracks as (
    select track_key, track_name, artist_name from playlists_tracks
),

popular as (
    select track_key, count(distinct playlist_id) as playlists
    from playlists_playlist_tracks
    group by track_key
    order by playlists desc, track_key
    limit 20
),

final as (
    select
        c.track_key,
        a.track_name,
        a.artist_name,
        c.rank,
        c.neighbor_key,
        b.track_name as neighbor_name,
        b.artist_name as neighbor_artist,
        c.count,
        p.playlists
    from cooccurrence c
    join popular p using (track_key)
    left join tracks a on a.track_key = c.track_key
    left join tracks b on b.track_key = c.neighbor_key
)

select * exclude (playlists) from final
order by playlists desc, track_key, rank
