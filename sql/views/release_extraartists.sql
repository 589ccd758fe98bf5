-- release_extraartists: one row per extra-artist credit of a release (releases.extraartists: producers, writers, ...).
-- grain: one row per (release, element of releases.extraartists); key: (release_id, ordinal).
-- source: discogs_releases.extraartists. A release whose extraartists is null or empty has no rows.
-- columns:
--   release_id: the release
--   ordinal: 1-based position in extraartists, in document order
--   artist_id: Discogs artist id; null for credits to a name without an artist page
--   artist_name: artist name
--   anv: artist name variation used on this release ('' or null when none)
--   join_phrase: join text ('' or null when none)
--   role: role(s) as written, e.g. 'Producer', 'Written-By [Lyrics By]'
--   tracks: positions the credit applies to as written, e.g. 'A1, B2' ('' or null when the whole release)
--   credited_name: anv when given, else artist_name

with releases as (
    select release_id, extraartists from discogs_releases
),

elements as (
    select
        release_id,
        generate_subscripts(extraartists, 1) as ordinal,
        unnest(extraartists) as credit
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
