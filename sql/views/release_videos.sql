-- release_videos: one row per video linked from a release (releases.videos).
-- grain: one row per (release, element of releases.videos); key: (release_id, ordinal).
-- source: discogs_releases.videos. A release whose videos is null or empty has no rows.
-- columns:
--   release_id: the release
--   ordinal: 1-based position in videos, in document order
--   src: video URL
--   duration_s: length in seconds
--   embed: whether the video may be embedded
--   title: video title
--   description: video description

with releases as (
    select release_id, videos from discogs_releases
),

elements as (
    select
        release_id,
        generate_subscripts(videos, 1) as ordinal,
        unnest(videos) as entry
    from releases
),

final as (
    select
        release_id,
        ordinal,
        entry.src as src,
        entry.duration as duration_s,
        entry.embed as embed,
        entry.title as title,
        entry.description as description
    from elements
)

select * from final
