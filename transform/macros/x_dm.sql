{#- Helpers shared by the models. X ids are strings of digits (up to 19): they are compared as
    numbers, never as floats and never as text. Archive rows of join/leave items carry derived
    ids that start with a non-digit, so every cast is guarded. -#}

{% macro x_dm_id_number(column) -%}
    case when {{ column }} ~ '^[0-9]{1,20}$' then {{ column }}::numeric(20, 0) end
{%- endmacro %}

{#- The Snowflake id X would give an event at `timestamp` (UTC, without time zone): sorts a
    derived id by time among real ids. -#}
{% macro x_dm_snowflake_of(timestamp) -%}
    ((floor(extract(epoch from {{ timestamp }}) * 1000)::numeric(20, 0) - 1288834974657) * 4194304)
{%- endmacro %}

{% macro x_dm_conversation_kind(column) -%}
    case when {{ column }} ~ '^[0-9]+-[0-9]+$' then 'one_to_one' else 'group' end
{%- endmacro %}

{#- The relation of a source table, or none when it does not exist: a stream left out of
    `select` has no table, and the models still build from the others. At parse time every
    table counts as present. -#}
{% macro x_dm_existing_source(name) -%}
    {%- set relation = source('x_dm', name) -%}
    {%- if not execute -%}
        {{ return(relation) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    )) }}
{%- endmacro %}

{#- The event tables that exist, each with the names of its columns. -#}
{% macro x_dm_event_tables() -%}
    {%- set present = [] -%}
    {%- for name in ['dm_events', 'conversation_events'] -%}
        {%- set relation = x_dm_existing_source(name) -%}
        {%- if relation is not none -%}
            {%- set columns = [] -%}
            {%- if execute -%}
                {%- for column in adapter.get_columns_in_relation(relation) -%}
                    {%- do columns.append(column.name | lower) -%}
                {%- endfor -%}
            {%- endif -%}
            {%- do present.append({'name': name, 'columns': columns}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if execute and not present -%}
        {{ exceptions.raise_compiler_error(
            "Neither dm_events nor conversation_events exists in schema "
            ~ source('x_dm', 'dm_events').schema
            ~ ": run the tap into PostgreSQL first (meltano run tap-x-dm target-postgres), "
            ~ "or set the dbt-postgres source_schema to the target's default_target_schema."
        ) }}
    {%- endif -%}
    {{ return(present) }}
{%- endmacro %}

{#- `name` from a table that has it, else a typed NULL: a stream map can remove any column
    but the keys (the README's privacy recipe removes `text`, and may add `text_sha256`). At
    parse time (no column list) every column is selected. -#}
{% macro x_dm_column_or_null(columns, name, type) -%}
    {%- if not execute or name in columns -%}
        {{ name }}
    {%- else -%}
        cast(null as {{ type }}) as {{ name }}
    {%- endif -%}
{%- endmacro %}
