-- One row per (account_id, dm_conversation_id): who is in it (the counterpart by id and
-- username), when it started and last moved, how many messages went in and out, and since
-- when it waits for the account's reply.
{%- set users = x_dm_existing_source('users') %}
{%- set user_columns = [] %}
{%- if users is not none and execute %}
    {%- for column in adapter.get_columns_in_relation(users) %}
        {%- do user_columns.append(column.name | lower) %}
    {%- endfor %}
{%- endif %}

with events as (
    select * from {{ ref('x_dm__events') }}
    where dm_conversation_id is not null
),

-- A group's members as far as its events show them: everyone who sent something, and the
-- users of its join and leave events (only those carry participant_ids).
members as (
    select account_id, dm_conversation_id, sender_id as user_id
    from events
    where sender_id is not null
    union
    select account_id, dm_conversation_id, unnest(participant_ids) as user_id
    from events
    where event_type in ('ParticipantsJoin', 'ParticipantsLeave')
),

group_members as (
    select
        account_id,
        dm_conversation_id,
        array_agg(user_id order by {{ x_dm_id_number('user_id') }}, user_id) as participant_ids
    from members
    group by account_id, dm_conversation_id
),

summary as (
    select
        account_id,
        dm_conversation_id,
        count(*) as events,
        count(*) filter (where event_type = 'MessageCreate') as messages,
        count(*) filter (where direction = 'inbound') as messages_in,
        count(*) filter (where direction = 'outbound') as messages_out,
        (array_agg(id order by sort_key, id))[1] as first_event_id,
        (array_agg(id order by sort_key desc, id desc))[1] as last_event_id,
        min(created_at) as first_event_at,
        max(created_at) as last_event_at,
        max(created_at) filter (where direction = 'inbound') as last_inbound_at,
        max(created_at) filter (where direction = 'outbound') as last_outbound_at
    from events
    group by account_id, dm_conversation_id
),

-- Only a conversation's last turn can be unanswered: every earlier one has a reply after it.
waiting as (
    select account_id, dm_conversation_id, min(inbound_at) as awaiting_reply_since
    from {{ ref('x_dm__response_times') }}
    where reply_event_id is null
    group by account_id, dm_conversation_id
),

users as (
    {%- if users is none %}
    select
        cast(null as text) as account_id,
        cast(null as text) as id,
        cast(null as text) as username,
        cast(null as text) as name
    where false
    {%- else %}
    select
        account_id,
        id,
        {{ x_dm_column_or_null(user_columns, 'username', 'text') }},
        {{ x_dm_column_or_null(user_columns, 'name', 'text') }}
    from {{ users }}
    {%- endif %}
),

conversations as (
    select
        summary.account_id,
        summary.dm_conversation_id,
        {{ x_dm_conversation_kind('summary.dm_conversation_id') }} as kind,
        case
            when {{ x_dm_conversation_kind('summary.dm_conversation_id') }} = 'one_to_one'
                then string_to_array(summary.dm_conversation_id, '-')
            else group_members.participant_ids
        end as participant_ids,
        case
            when {{ x_dm_conversation_kind('summary.dm_conversation_id') }} = 'one_to_one'
                then (
                    array_remove(string_to_array(summary.dm_conversation_id, '-'), summary.account_id)
                )[1]
        end as counterpart_id,
        summary.events,
        summary.messages,
        summary.messages_in,
        summary.messages_out,
        summary.first_event_id,
        summary.first_event_at,
        summary.last_event_id,
        summary.last_event_at,
        summary.last_inbound_at,
        summary.last_outbound_at,
        waiting.awaiting_reply_since
    from summary
    left join group_members
        on group_members.account_id = summary.account_id
        and group_members.dm_conversation_id = summary.dm_conversation_id
    left join waiting
        on waiting.account_id = summary.account_id
        and waiting.dm_conversation_id = summary.dm_conversation_id
)

select
    conversations.account_id,
    conversations.dm_conversation_id,
    conversations.kind,
    conversations.participant_ids,
    conversations.counterpart_id,
    users.username as counterpart_username,
    users.name as counterpart_name,
    conversations.events,
    conversations.messages,
    conversations.messages_in,
    conversations.messages_out,
    conversations.first_event_id,
    conversations.first_event_at,
    conversations.last_event_id,
    conversations.last_event_at,
    conversations.last_inbound_at,
    conversations.last_outbound_at,
    conversations.awaiting_reply_since is not null as awaiting_reply,
    conversations.awaiting_reply_since
from conversations
left join users
    on users.account_id = conversations.account_id
    and users.id = conversations.counterpart_id
