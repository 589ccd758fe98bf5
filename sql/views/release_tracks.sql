-- release_tracks: every track, heading, index track and sub-track of a release's tracklist.
-- grain: one row per tracklist entry or sub-track; key: (release_id, track_index, sub_track_index).
--   Top-level entries have sub_track_index 0; the sub-tracks of an index track follow it with
--   sub_track_index 1, 2, ... and carry the parent's position and title. Ordering by
--   (track_index, sub_track_index) gives document order.
-- source: discogs_releases.tracklist (and tracklist[].sub_tracks).
-- columns:
--   release_id: the release
--   track_index: 1-based position of the top-level entry in the tracklist
--   sub_track_index: 0 for a top-level entry, else the 1-based position among its parent's sub-tracks
--   is_sub_track: true for sub-tracks
--   position: position as written, e.g. 'A1', '1-3', '' (headings and index tracks often have none)
--   track_type: entry kind as ingested (tracklist type_, e.g. 'track', 'heading', 'index'; null when absent)
--   title: title
--   duration: duration as written, e.g. '4:06' ('' or null when none)
--   duration_s: duration in seconds (null when none or unparseable)
--   parent_position, parent_title: position and title of the index track a sub-track belongs to (null on top-level rows)
--   sub_track_count: number of sub-tracks of a top-level entry (0 when none; null on sub-track rows)
--   artist_ids: ids of the entry's own artist credits, in order (empty when the entry has none:
--     then the release artists apply; see release_artists)
--   artists: the entry's artist credit as displayed, e.g. 'Artist A & Artist B' (null when none)
--   artist_count, extraartist_count: number of the entry's own artist and extra-artist credits
--   artist_credits, extraartist_credits: the entry's own credits as written (list of struct id, name,
--     anv, join, role, tracks; release_track_artists has them one per row)

-- The tracklist is read twice, once per level, each from its own import CTE: a CTE that is
-- referenced twice would be materialised by DuckDB, and memory would grow with the input.
with top_level as (
    select
        release_id,
        generate_subscripts(tracklist, 1) as track_index,
        unnest(tracklist) as track
    from discogs_releases
),

index_tracks as (
    select release_id, track_index, track
    from (
        select
            release_id,
            generate_subscripts(tracklist, 1) as track_index,
            unnest(tracklist) as track
        from discogs_releases
    )
    where len(track.sub_tracks) > 0
),

sub_tracks as (
    select
        release_id,
        track_index,
        track.position as parent_position,
        track.title as parent_title,
        generate_subscripts(track.sub_tracks, 1) as sub_track_index,
        unnest(track.sub_tracks) as sub
    from index_tracks
),

entries as (
    select
        release_id, track_index, 0 as sub_track_index,
        track.position as position, track.type_ as track_type, track.title as title,
        track.duration as duration, track.duration_s as duration_s,
        null::varchar as parent_position, null::varchar as parent_title,
        coalesce(len(track.sub_tracks), 0) as sub_track_count,
        track.artists as artist_credits, track.extraartists as extraartist_credits
    from top_level

    union all

    select
        release_id, track_index, sub_track_index,
        sub.position, sub.type_, sub.title,
        sub.duration, sub.duration_s,
        parent_position, parent_title,
        null as sub_track_count,
        sub.artists, sub.extraartists
    from sub_tracks
),

final as (
    select
        release_id,
        track_index,
        sub_track_index,
        sub_track_index > 0 as is_sub_track,
        position,
        track_type,
        title,
        duration,
        duration_s,
        parent_position,
        parent_title,
        sub_track_count,
        coalesce([a.id for a in artist_credits], []) as artist_ids,
        nullif(trim(array_to_string([
            coalesce(nullif(a.anv, ''), a.name)
            || case when coalesce(a.join, '') = '' then ''
                    when a.join = ',' then ', '
                    else ' ' || a.join || ' ' end
            for a in artist_credits], '')), '') as artists,
        coalesce(len(artist_credits), 0) as artist_count,
        coalesce(len(extraartist_credits), 0) as extraartist_count,
        artist_credits,
        extraartist_credits
    from entries
)

select * from final
