-- Singular test: the outcome table covers the held-out set exactly (one row per prediction),
-- and every group is large enough to measure. Attached to applicant_outcomes, so that
-- dagster-dbt reports it as an asset check of that table.
{{ config(meta={"dagster": {"ref": {"name": "applicant_outcomes"}}}) }}

select 'missing outcomes' as problem
from {{ ref('predictions') }} as p
left join {{ ref('applicant_outcomes') }} as o using (applicant_id)
where o.applicant_id is null
union all
select 'empty group ' || gender
from {{ ref('outcomes_by_group') }}
where applicants = 0 or selection_rate not between 0 and 1
