-- First-response time: for each inbound message that opens a customer's turn, the account's
-- first reply after it in the same conversation, and the delay.
--
-- Messages are ordered by id (X ids are Snowflakes, and created_at may be whole seconds);
-- sort_key orders a derived archive id by its time among them. A turn opens with an inbound
-- message whose previous message is outbound, or that starts the conversation; in a group,
-- inbound is any sender but the account. Join and leave events are not messages.
with messages as (
    select
        account_id,
        dm_conversation_id,
        id,
        sender_id,
        direction,
        created_at,
        lag(direction) over conversation as previous_direction,
        -- Outbound messages before this one: the reply to a turn is the next outbound one.
        count(*) filter (where direction = 'outbound') over (
            conversation rows between unbounded preceding and 1 preceding
        ) as outbound_before
    from {{ ref('x_dm__events') }}
    where event_type = 'MessageCreate'
        and direction is not null
        and dm_conversation_id is not null
    window conversation as (
        partition by account_id, dm_conversation_id
        order by sort_key, id
    )
),

turns as (
    select *
    from messages
    where direction = 'inbound'
        and (previous_direction is null or previous_direction = 'outbound')
),

-- The k-th outbound message of a conversation has k - 1 outbound messages before it, the
-- same count as the turns it answers.
replies as (
    select *
    from messages
    where direction = 'outbound'
)

select
    turns.account_id,
    turns.dm_conversation_id,
    {{ x_dm_conversation_kind('turns.dm_conversation_id') }} as conversation_kind,
    turns.id as inbound_event_id,
    turns.sender_id as inbound_sender_id,
    turns.created_at as inbound_at,
    replies.id as reply_event_id,
    replies.sender_id as reply_sender_id,
    replies.created_at as replied_at,
    replies.created_at - turns.created_at as response_time,
    extract(epoch from replies.created_at - turns.created_at) as response_seconds
from turns
left join replies
    on replies.account_id = turns.account_id
    and replies.dm_conversation_id = turns.dm_conversation_id
    and replies.outbound_before = turns.outbound_before
