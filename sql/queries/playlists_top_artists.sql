-- Which artists are spread over the most playlists?
-- grain: one row per artist (the 100 most widespread); key: artist (artist_key, else artist_name).
-- columns: artist (artist_key where the source has one, else artist_name); artist_name;
--   playlists (distinct playlists with at least one of the artist's tracks); tracks (distinct track
--   keys of the artist that occur in playlists); entries.
-- sources: playlists_playlist_tracks, playlists_tracks.

with entries as (
    select playlist_id, track_key from playlists_playlist_tracks
),

tracks as (
    select track_key, coalesce(artist_key, artist_name) as artist, artist_name
    from playlists_tracks
    where coalesce(artist_key, artist_name) is not null
),

final as (
    select
        t.artist,
        any_value(t.artist_name) as artist_name,
        count(distinct e.playlist_id) as playlists,
        count(distinct e.track_key) as tracks,
        count(*) as entries
    from entries e
    join tracks t using (track_key)
    group by t.artist
)

select * from final
order by playlists desc, artist
limit 100
