-- release_track_artists: the artist and extra-artist credits given on tracks and sub-tracks.
-- grain: one row per credit on a tracklist entry; key: (release_id, track_index, sub_track_index, credit_type, ordinal).
--   Only credits written on the track itself appear; a track without its own artists is by
--   the release artists (release_artists), and release-level extra artists with a `tracks`
--   range are in release_extraartists.
-- source: release_tracks.artist_credits / extraartist_credits (tracklist[] and sub_tracks[] of discogs_releases).
-- columns:
--   release_id, track_index, sub_track_index: the entry, as in release_tracks
--   position: the entry's position as written
--   credit_type: 'artist' (tracklist artists) or 'extraartist' (tracklist extraartists)
--   ordinal: 1-based position of the credit within its list, in document order
--   artist_id: Discogs artist id (null for credits without an artist page)
--   artist_name, anv, join_phrase, role, tracks: as in release_artists
--   credited_name: anv when given, else artist_name

with entries as (
    select release_id, track_index, sub_track_index, position, artist_credits, extraartist_credits
    from release_tracks
),

-- Both credit lists of an entry in one pass (one list, then one unnest).
credits as (
    select
        release_id,
        track_index,
        sub_track_index,
        position,
        unnest(list_concat(
            [{'credit_type': 'artist', 'ordinal': i, 'credit': c} for c, i in coalesce(artist_credits, [])],
            [{'credit_type': 'extraartist', 'ordinal': i, 'credit': c} for c, i in coalesce(extraartist_credits, [])]
        )) as item
    from entries
),

final as (
    select
        release_id,
        track_index,
        sub_track_index,
        position,
        item.credit_type as credit_type,
        item.ordinal as ordinal,
        item.credit.id as artist_id,
        item.credit.name as artist_name,
        item.credit.anv as anv,
        item.credit.join as join_phrase,
        item.credit.role as role,
        item.credit.tracks as tracks,
        coalesce(nullif(item.credit.anv, ''), item.credit.name) as credited_name
    from credits
)

select * from final
