-- First-response time: for each inbound message that opens a customer's turn, the account's
-- first reply after it in the same conversation, and the delay.
--
-- Messages are ordered by id (X ids are Snowflakes, and created_at may be whole seconds);
-- sort_key orders a derived archive id by its time among them. Turns and replies: the
-- x_dm_turn macros; in a group, inbound is any sender but the account. Join and leave events
-- are not messages.
with messages as (
    select
        account_id,
        dm_conversation_id,
        id,
        sender_id,
        direction,
        created_at,
        {{ x_dm_turn_columns('conversation') }}
    from {{ ref('x_dm__events') }}
    where event_type = 'MessageCreate'
        and direction is not null
        and dm_conversation_id is not null
    window conversation as (
        partition by account_id, dm_conversation_id
        order by sort_key, id
    )
),

{{ x_dm_turns_and_replies() }}

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
{{ x_dm_turns_with_replies() }}
