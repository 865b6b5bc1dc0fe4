{#- Every row satisfies `expression` (a row where it is NULL fails too). -#}
{% test x_dm_expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not coalesce({{ expression }}, false)
{% endtest %}
