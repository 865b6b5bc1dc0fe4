{#- XChat helpers (issue 23). -#}

{#- Whether the chat_events table exists: the chat streams are opt-in, and the models build
    without them (as empty models). At parse time it counts as present. -#}
{% macro x_dm_chat_events_present() -%}
    {%- set relation = source('x_dm', 'chat_events') -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) is not none) }}
{%- endmacro %}
