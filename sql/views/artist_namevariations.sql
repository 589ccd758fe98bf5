-- artist_namevariations: one row per name variation of an artist (artists.namevariations).
-- grain: one row per (artist, element of artists.namevariations); key: (artist_id, ordinal).
-- source: discogs_artists.namevariations. An artist whose namevariations is null or empty has no rows.
-- columns:
--   artist_id: the artist
--   ordinal: 1-based position in namevariations, in document order
--   name_variation: a spelling the artist is credited under

with artists as (
    select artist_id, namevariations from discogs_artists
),

elements as (
    select
        artist_id,
        generate_subscripts(namevariations, 1) as ordinal,
        unnest(namevariations) as entry
    from artists
),

final as (
    select
        artist_id,
        ordinal,
        entry as name_variation
    from elements
)

select * from final
