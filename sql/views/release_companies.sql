-- release_companies: one row per company credit of a release (releases.companies: pressed by, published by, ...).
-- grain: one row per (release, element of releases.companies); key: (release_id, ordinal).
-- source: discogs_releases.companies. A release whose companies is null or empty has no rows.
-- columns:
--   release_id: the release
--   ordinal: 1-based position in companies, in document order
--   company_id: Discogs label id of the company
--   company_name: company name
--   catno: catalogue number given with the credit (often null or '')
--   entity_type: numeric kind of credit
--   entity_type_name: kind of credit, e.g. 'Pressed By', 'Phonographic Copyright (p)'
--   resource_url: API URL of the company

with releases as (
    select release_id, companies from discogs_releases
),

elements as (
    select
        release_id,
        generate_subscripts(companies, 1) as ordinal,
        unnest(companies) as entry
    from releases
),

final as (
    select
        release_id,
        ordinal,
        entry.id as company_id,
        entry.name as company_name,
        entry.catno as catno,
        entry.entity_type as entity_type,
        entry.entity_type_name as entity_type_name,
        entry.resource_url as resource_url
    from elements
)

select * from final
