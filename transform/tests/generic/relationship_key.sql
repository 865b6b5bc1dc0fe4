{#- Every row whose `columns` are all set finds a row of `to` with the same values in
    `to_columns` (a composite foreign key). -#}
{% test relationship_key(model, to, columns, to_columns) %}
select child.*
from {{ model }} as child
where
    {%- for column in columns %}
    child.{{ column }} is not null and
    {%- endfor %}
    not exists (
        select 1
        from {{ to }} as parent
        where
            {%- for column in columns %}
            parent.{{ to_columns[loop.index0] }} = child.{{ column }}
            {%- if not loop.last %} and{% endif %}
            {%- endfor %}
    )
{% endtest %}
