-- First-response time across both systems: x_dm__response_times' turns, on the one-to-one
-- timeline of x_dm__pair_timeline, so a customer who wrote over legacy DMs and got the answer
-- in XChat (or the other way) is counted once, with the real delay.
--
-- From metadata alone (without chat_messages): every XChat event counts as a message (without
-- decryption a reaction, an edit or a key change cannot be told from a message), so an XChat
-- reaction of the account can end a turn. With chat_messages, the timeline's kind says which
-- are messages. Legacy join and leave events are not messages.
with messages as (
    select
        account_id,
        dm_conversation_id,
        system,
        event_id,
        sender_id,
        direction,
        created_at,
        {{ x_dm_turn_columns('pair') }}
    from {{ ref('x_dm__pair_timeline') }}
    where kind = 'message'
        and direction is not null
    window pair as (
        partition by account_id, dm_conversation_id
        order by position_in_pair
    )
),

{{ x_dm_turns_and_replies() }}

select
    turns.account_id,
    turns.dm_conversation_id,
    turns.system as inbound_system,
    turns.event_id as inbound_event_id,
    turns.sender_id as inbound_sender_id,
    turns.created_at as inbound_at,
    replies.system as reply_system,
    replies.event_id as reply_event_id,
    replies.created_at as replied_at,
    replies.created_at - turns.created_at as response_time,
    extract(epoch from replies.created_at - turns.created_at) as response_seconds
{{ x_dm_turns_with_replies() }}
