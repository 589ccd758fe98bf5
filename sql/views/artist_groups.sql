-- artist_groups: one row per group an artist belongs to (artists.groups).
-- grain: one row per (artist, element of artists.groups); key: (artist_id, ordinal).
-- source: discogs_artists.groups. An artist whose groups is null or empty has no rows.
-- columns:
--   artist_id: the artist
--   ordinal: 1-based position in groups, in document order
--   group_id: artist id of the group
--   group_name: name of the group

with artists as (
    select artist_id, groups from discogs_artists
),

elements as (
    select
        artist_id,
        generate_subscripts(groups, 1) as ordinal,
        unnest(groups) as entry
    from artists
),

final as (
    select
        artist_id,
        ordinal,
        entry.id as group_id,
        entry.name as group_name
    from elements
)

select * from final
