{#- Whether the tap's chat_messages table (decrypted XChat, issue 24) was loaded: the models
    built on it are empty without it. At parse time it counts as present. -#}
{% macro x_dm_chat_messages_loaded() -%}
    {%- set relation = source('x_dm', 'chat_messages') -%}
    {{ return(not execute or adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) is not none) }}
{%- endmacro %}
