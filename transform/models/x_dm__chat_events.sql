-- One row per (account_id, id): every XChat event (X's encrypted chats) the chat_events table
-- holds, from its plaintext metadata. Without decryption an event has no kind: a message, a
-- reaction, an edit, a delete and a key change all look alike, so every row counts as a message
-- in the models that use it (x_dm__pair_timeline, x_dm__pair_response_times).
{%- if x_dm_chat_events_present() %}

with ranked as (
    select
        *,
        row_number() over (
            partition by account_id, id
            order by _sdc_extracted_at desc nulls last
        ) as copy_rank
    from {{ source('x_dm', 'chat_events') }}
)

select
    account_id,
    id,
    conversation_id,
    dm_conversation_id,
    sender_id,
    case
        when sender_id is null then null
        when sender_id = account_id then 'outbound'
        else 'inbound'
    end as direction,
    created_at at time zone 'UTC' as created_at,
    sequence_id,
    previous_id,
    key_version,
    {{ x_dm_id_number('sequence_id') }} as sort_key
from ranked
where copy_rank = 1
{%- else %}

select
    null::text as account_id,
    null::text as id,
    null::text as conversation_id,
    null::text as dm_conversation_id,
    null::text as sender_id,
    null::text as direction,
    null::timestamptz as created_at,
    null::text as sequence_id,
    null::text as previous_id,
    null::text as key_version,
    null::numeric(20, 0) as sort_key
where false
{%- endif %}
