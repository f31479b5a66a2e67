-- German Credit, one row per application, typed. applicant_id is the row's position in the
-- file (0-based): the evaluation splits the applications in this order, as the DVC stages do.
with raw as (
    select *, row_number() over () - 1 as applicant_id
    from {{ source('raw', 'german_credit') }}
)

select
    cast(applicant_id as bigint) as applicant_id,
    {%- for field in var('numeric_fields') %}
    cast({{ field }} as bigint) as {{ field }},
    {%- endfor %}
    {%- for field in var('categorical_fields') %}
    cast({{ field }} as varchar) as {{ field }},
    {%- endfor %}
    cast(gender as varchar) as gender,
    cast(target as bigint) as target
from raw
order by applicant_id
