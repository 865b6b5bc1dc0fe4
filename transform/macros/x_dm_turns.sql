{#- First-response time, shared by x_dm__response_times (legacy) and x_dm__pair_response_times
    (both systems). A turn opens with an inbound message whose previous message is outbound, or
    that starts the conversation; its reply is the next outbound message. The k-th outbound
    message of a conversation has k - 1 outbound messages before it, the same count as the turns
    it answers. -#}

{#- The columns a model's `messages` CTE adds, over its named `window` (a conversation's
    messages in order). -#}
{% macro x_dm_turn_columns(window) -%}
        lag(direction) over {{ window }} as previous_direction,
        -- Outbound messages before this one: the reply to a turn is the next outbound one.
        count(*) filter (where direction = 'outbound') over (
            {{ window }} rows between unbounded preceding and 1 preceding
        ) as outbound_before
{%- endmacro %}

{#- The `turns` and `replies` CTEs, from a `messages` CTE with x_dm_turn_columns. -#}
{% macro x_dm_turns_and_replies() -%}
turns as (
    select *
    from messages
    where direction = 'inbound'
        and (previous_direction is null or previous_direction = 'outbound')
),

replies as (
    select *
    from messages
    where direction = 'outbound'
)
{%- endmacro %}

{#- Each turn and its reply (nulls while unanswered). -#}
{% macro x_dm_turns_with_replies() -%}
from turns
left join replies
    on replies.account_id = turns.account_id
    and replies.dm_conversation_id = turns.dm_conversation_id
    and replies.outbound_before = turns.outbound_before
{%- endmacro %}
