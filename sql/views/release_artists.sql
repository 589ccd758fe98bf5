-- release_artists: one row per main artist credit of a release (releases.artists).
-- grain: one row per (release, element of releases.artists); key: (release_id, ordinal).
-- source: discogs_releases.artists. A release whose artists is null or empty has no rows.
-- columns:
--   release_id: the release
--   ordinal: 1-based position in artists, in document order
--   artist_id: Discogs artist id (null when the credit has none)
--   artist_name: artist name as on the artist page
--   anv: artist name variation used on this release ('' or null when none)
--   join_phrase: text joining this credit to the next one, e.g. '&', 'Feat.', ',' ('' or null when none)
--   role: role text (usually empty for main artists)
--   tracks: tracks the credit applies to, as written (usually empty for main artists)
--   credited_name: the name as credited: anv when given, else artist_name

with releases as (
    select release_id, artists from discogs_releases
),

elements as (
    select
        release_id,
        generate_subscripts(artists, 1) as ordinal,
        unnest(artists) as credit
    from releases
),

final as (
    select
        release_id,
        ordinal,
        credit.id as artist_id,
        credit.name as artist_name,
        credit.anv as anv,
        credit.join as join_phrase,
        credit.role as role,
        credit.tracks as tracks,
        coalesce(nullif(credit.anv, ''), credit.name) as credited_name
    from elements
)

select * from final
