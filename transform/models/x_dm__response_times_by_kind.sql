-- The headline of x_dm__response_times, one-to-one and group apart (a group's turns wait on
-- a crowd, and mixing them moves the median by hours): one row per (account_id,
-- conversation_kind).
select
    account_id,
    conversation_kind,
    count(*) as turns,
    count(reply_event_id) as answered,
    count(*) - count(reply_event_id) as unanswered,
    percentile_cont(0.5) within group (order by response_seconds) as median_seconds,
    percentile_cont(0.9) within group (order by response_seconds) as p90_seconds,
    avg(response_seconds) as mean_seconds,
    min(inbound_at) as first_turn_at,
    max(inbound_at) as last_turn_at
from {{ ref('x_dm__response_times') }}
group by account_id, conversation_kind
