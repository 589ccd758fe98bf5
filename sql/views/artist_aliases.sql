-- artist_aliases: one row per alias of an artist (artists.aliases).
-- grain: one row per (artist, element of artists.aliases); key: (artist_id, ordinal).
-- source: discogs_artists.aliases. An artist whose aliases is null or empty has no rows.
-- columns:
--   artist_id: the artist
--   ordinal: 1-based position in aliases, in document order
--   alias_id: artist id of the alias (null in 2013-era dumps)
--   alias_name: name of the alias

with artists as (
    select artist_id, aliases from discogs_artists
),

elements as (
    select
        artist_id,
        generate_subscripts(aliases, 1) as ordinal,
        unnest(aliases) as entry
    from artists
),

final as (
    select
        artist_id,
        ordinal,
        entry.id as alias_id,
        entry.name as alias_name
    from elements
)

select * from final
