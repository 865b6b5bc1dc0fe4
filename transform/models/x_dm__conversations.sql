-- One row per (account_id, dm_conversation_id): who is in it, when it started and last moved,
-- and how many messages went in and out.
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
)

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
    summary.last_outbound_at
from summary
left join group_members
    on group_members.account_id = summary.account_id
    and group_members.dm_conversation_id = summary.dm_conversation_id
