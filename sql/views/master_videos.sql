-- master_videos: one row per video linked from a master release (masters.videos).
-- grain: one row per (master, element of masters.videos); key: (master_id, ordinal).
-- source: discogs_masters.videos. A master whose videos is null or empty has no rows.
-- columns:
--   master_id: the master
--   ordinal: 1-based position in videos, in document order
--   src: video URL
--   duration_s: length in seconds
--   embed: whether the video may be embedded
--   title: video title
--   description: video description

with masters as (
    select master_id, videos from discogs_masters
),

elements as (
    select
        master_id,
        generate_subscripts(videos, 1) as ordinal,
        unnest(videos) as entry
    from masters
),

final as (
    select
        master_id,
        ordinal,
        entry.src as src,
        entry.duration as duration_s,
        entry.embed as embed,
        entry.title as title,
        entry.description as description
    from elements
)

select * from final
