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

{#- The source tables that exist: a stream left out of `select` has no table, and the models
    still build from the others. At parse time every table counts as present. -#}
{% macro x_dm_event_tables() -%}
    {%- set present = [] -%}
    {%- for name in ['dm_events', 'conversation_events'] -%}
        {%- set relation = source('x_dm', name) -%}
        {%- if not execute or adapter.get_relation(
                database=relation.database, schema=relation.schema, identifier=relation.identifier
            ) is not none -%}
            {%- do present.append(name) -%}
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
