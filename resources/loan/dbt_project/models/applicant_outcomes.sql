-- The outcome of every held-out application with its group: the evaluation's input.
select
    p.holdout_rank,
    p.applicant_id,
    f.gender,
    f.target,
    p.prediction,
    p.score,
    p.prediction = p.prediction_perturbed as stable
from {{ ref('predictions') }} as p
join {{ ref('features') }} as f using (applicant_id)
order by p.holdout_rank
