-- Approval rate and true-positive rate per gender on the held-out set.
select
    gender,
    count(*) as applicants,
    avg(prediction) as selection_rate,
    sum(prediction * target) / nullif(sum(target), 0) as true_positive_rate
from {{ ref('applicant_outcomes') }}
group by gender
order by gender
