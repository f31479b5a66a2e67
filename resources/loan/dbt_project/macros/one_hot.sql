{#- One 0/1 column per category code of each field, named "<field>=<code>" and sorted by name
    (case-sensitive), as featurize.py's pandas.get_dummies does. -#}
{% macro one_hot(relation, fields) %}
    {%- set names = [] -%}
    {%- if execute -%}
        {%- for field in fields -%}
            {%- set codes = run_query(
                "select distinct " ~ field ~ " from " ~ relation ~ " where " ~ field
                ~ " is not null order by 1"
            ) -%}
            {%- for code in codes.columns[0].values() -%}
                {%- do names.append(field ~ "=" ~ code) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for name in names | sort(case_sensitive=true) -%}
        {%- set parts = name.split("=", 1) %}
    cast(case when {{ parts[0] }} = '{{ parts[1] }}' then 1 else 0 end as tinyint) as "{{ name }}"
        {%- if not loop.last %},{% endif -%}
    {%- endfor -%}
{% endmacro %}
