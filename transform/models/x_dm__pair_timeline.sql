-- One timeline per one-to-one pair across both of X's systems: the legacy DM events
-- (x_dm__events) and the XChat events (x_dm__chat_events) of one pair share the legacy id
-- `A-B` (dm_conversation_id; XChat writes `A:B`). Groups are left out: an upgraded legacy group
-- can be linked to its XChat group only from decrypted events.
--
-- Order: created_at across the systems (legacy created_at may be whole seconds, XChat has
-- milliseconds: within one second a legacy event sorts first), then each system's own order
-- (the legacy Snowflake id, the XChat sequence id). Without chat_messages every XChat event
-- counts as a message: without decryption it has no kind.
with legacy as (
    select
        account_id,
        dm_conversation_id,
        'legacy' as system,
        id as event_id,
        case when event_type = 'MessageCreate' then 'message' else event_type end as kind,
        sender_id,
        direction,
        created_at,
        sort_key as system_sort_key
    from {{ ref('x_dm__events') }}
    where {{ x_dm_conversation_kind('dm_conversation_id') }} = 'one_to_one'
),

-- With chat_messages loaded (x_dm__chat_messages, issue 24) an XChat event has its decrypted
-- kind: only messages and replies still there are 'message'; reactions, edits, deletes, key
-- changes and deleted messages are not; an event the key blob could not open is 'unknown'.
xchat as (
    select
        chat.account_id,
        chat.dm_conversation_id,
        'xchat' as system,
        chat.id as event_id,
        case
            when decoded.id is null or decoded.is_message then 'message'
            when decoded.kind in ('message', 'reply') then 'deleted_message'
            else decoded.kind
        end as kind,
        chat.sender_id,
        chat.direction,
        chat.created_at,
        chat.sort_key as system_sort_key
    from {{ ref('x_dm__chat_events') }} as chat
    left join {{ ref('x_dm__chat_messages') }} as decoded
        on decoded.account_id = chat.account_id
        and decoded.id = chat.id
    where chat.dm_conversation_id is not null
),

both_systems as (
    select * from legacy
    union all
    select * from xchat
)

select
    *,
    row_number() over (
        partition by account_id, dm_conversation_id
        order by date_trunc('second', created_at), system, system_sort_key, event_id
    ) as position_in_pair
from both_systems
