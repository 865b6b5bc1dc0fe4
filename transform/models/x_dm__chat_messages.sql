-- One row per (account_id, id) of chat_messages (decrypted XChat events), with edits and
-- deletes applied: `text` is the latest verified edit by the sender, NULL once a verified
-- delete removed the message. `is_message` is true for what someone said (a message or a
-- reply, not deleted), false for reactions, edits, deletes and key or group changes, and NULL
-- when the event could not be decrypted (its kind is unknown) or its signature does not match
-- (anyone with the conversation key could have made it). Empty without chat_messages.
{%- if x_dm_chat_messages_loaded() %}

with rows as (
    select
        account_id,
        id,
        conversation_id,
        dm_conversation_id,
        sequence_id,
        {{ x_dm_id_number('sequence_id') }} as sequence_number,
        sender_id,
        created_at at time zone 'UTC' as created_at,
        kind,
        decrypted,
        verified,
        status,
        text,
        reply_to_sequence_id,
        target_sequence_id,
        emoji,
        deleted_sequence_ids,
        attachments,
        row_number() over (
            partition by account_id, id order by _sdc_extracted_at desc nulls last
        ) as copy_rank
    from {{ source('x_dm', 'chat_messages') }}
),

latest as (
    select * from rows where copy_rank = 1
),

-- An edit counts only from the message's own sender, and only when its signature verified.
edits as (
    select distinct on (edit.account_id, edit.conversation_id, edit.target_sequence_id)
        edit.account_id,
        edit.conversation_id,
        edit.target_sequence_id,
        edit.text,
        edit.created_at as edited_at
    from latest as edit
    join latest as target
        on target.account_id = edit.account_id
        and target.conversation_id = edit.conversation_id
        and target.sequence_id = edit.target_sequence_id
        and target.sender_id = edit.sender_id
    where edit.kind = 'edit' and edit.verified
    order by edit.account_id, edit.conversation_id, edit.target_sequence_id,
        edit.sequence_number desc
),

deletes as (
    select
        deletion.account_id,
        deletion.conversation_id,
        target.sequence_id as target_sequence_id,
        min(deletion.created_at) as deleted_at
    from latest as deletion
    cross join lateral unnest(deletion.deleted_sequence_ids) as target (sequence_id)
    where deletion.kind = 'delete' and deletion.verified
    group by 1, 2, 3
)

select
    latest.account_id,
    latest.id,
    latest.conversation_id,
    latest.dm_conversation_id,
    latest.sequence_id,
    latest.sender_id,
    case
        when latest.sender_id is null then null
        when latest.sender_id = latest.account_id then 'outbound'
        else 'inbound'
    end as direction,
    latest.created_at,
    latest.kind,
    latest.status,
    latest.decrypted,
    latest.verified,
    case
        when latest.kind not in ('message', 'reply') then null
        when deletes.deleted_at is not null then null
        else coalesce(edits.text, latest.text)
    end as text,
    edits.edited_at,
    deletes.deleted_at,
    case
        when latest.kind = 'unknown' or latest.status = 'bad_signature' then null
        else latest.kind in ('message', 'reply') and deletes.deleted_at is null
    end as is_message,
    latest.reply_to_sequence_id,
    latest.target_sequence_id,
    latest.emoji,
    case when deletes.deleted_at is null then to_jsonb(latest.attachments) end as attachments,
    latest.sequence_number as sort_key
from latest
left join edits
    on edits.account_id = latest.account_id
    and edits.conversation_id = latest.conversation_id
    and edits.target_sequence_id = latest.sequence_id
left join deletes
    on deletes.account_id = latest.account_id
    and deletes.conversation_id = latest.conversation_id
    and deletes.target_sequence_id = latest.sequence_id

{%- else %}

select
    null::text as account_id, null::text as id, null::text as conversation_id,
    null::text as dm_conversation_id, null::text as sequence_id, null::text as sender_id,
    null::text as direction, null::timestamptz as created_at, null::text as kind,
    null::text as status, null::boolean as decrypted, null::boolean as verified,
    null::text as text, null::timestamptz as edited_at, null::timestamptz as deleted_at,
    null::boolean as is_message, null::text as reply_to_sequence_id,
    null::text as target_sequence_id, null::text as emoji, null::jsonb as attachments,
    null::numeric(20, 0) as sort_key
where false

{%- endif %}
