{#- Every non-null value of the column lies within [min_value, max_value] (SQL expressions;
    either bound may be left out). -#}
{% test x_dm_in_range(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }} as out_of_range
from {{ model }}
where {{ column_name }} is not null
    and (
        false
        {%- if min_value is not none %}
        or {{ column_name }} < {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
        or {{ column_name }} > {{ max_value }}
        {%- endif %}
    )
{% endtest %}
