-- The feature table of the evaluation: the numeric fields, one 0/1 column per category code,
-- the protected attribute and the target (same columns, same order as featurize.py).
select
    applicant_id,
    {%- for field in var('numeric_fields') %}
    {{ field }},
    {%- endfor %}
    {{ one_hot(ref('stg_applications'), var('categorical_fields')) }},
    gender,
    target
from {{ ref('stg_applications') }}
order by applicant_id
