-- artist_urls: one row per URL of an artist (artists.urls).
-- grain: one row per (artist, element of artists.urls); key: (artist_id, ordinal).
-- source: discogs_artists.urls. An artist whose urls is null or empty has no rows.
-- columns:
--   artist_id: the artist
--   ordinal: 1-based position in urls, in document order
--   url: the URL as written

with artists as (
    select artist_id, urls from discogs_artists
),

elements as (
    select
        artist_id,
        generate_subscripts(urls, 1) as ordinal,
        unnest(urls) as entry
    from artists
),

final as (
    select
        artist_id,
        ordinal,
        entry as url
    from elements
)

select * from final
