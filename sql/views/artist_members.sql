-- artist_members: one row per member of a group (artists.members); artist_id is the group.
-- grain: one row per (artist, element of artists.members); key: (artist_id, ordinal).
-- source: discogs_artists.members. An artist whose members is null or empty has no rows.
-- columns:
--   artist_id: the artist
--   ordinal: 1-based position in members, in document order
--   member_id: artist id of the member (null in 2013-era dumps)
--   member_name: name of the member

with artists as (
    select artist_id, members from discogs_artists
),

elements as (
    select
        artist_id,
        generate_subscripts(members, 1) as ordinal,
        unnest(members) as entry
    from artists
),

final as (
    select
        artist_id,
        ordinal,
        entry.id as member_id,
        entry.name as member_name
    from elements
)

select * from final
