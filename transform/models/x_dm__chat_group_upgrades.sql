-- Legacy DM groups upgraded into XChat groups: one row per upgraded XChat group, with the
-- legacy group it continues when the plaintext allows telling which.
--
-- X links them by nothing but a flag: the XChat group's signed group create says it upgrades
-- a legacy group (`legacy_group_upgrade`), and its ids are unrelated. So the link is made by
-- members: the account's legacy group sharing the most members with the create's member
-- list (as far as its events show them: senders, joins, leaves), at least two. Two legacy
-- groups sharing as many: no link (`legacy_candidates` says how many tied). Empty without
-- chat_messages.
{%- if x_dm_chat_messages_loaded() %}

with creates as (
    select distinct on (account_id, conversation_id)
        account_id,
        conversation_id,
        group_member_ids,
        created_at at time zone 'UTC' as upgraded_at
    from {{ source('x_dm', 'chat_messages') }}
    where kind = 'group_change'
        and group_change_type = 'Created'
        and legacy_group_upgrade
        and verified
    order by account_id, conversation_id, {{ x_dm_id_number('sequence_id') }}
),

legacy as (
    select account_id, dm_conversation_id, participant_ids
    from {{ ref('x_dm__conversations') }}
    where {{ x_dm_conversation_kind('dm_conversation_id') }} = 'group'
),

shared as (
    select
        creates.account_id,
        creates.conversation_id,
        legacy.dm_conversation_id,
        cardinality(array(
            select unnest(creates.group_member_ids)
            intersect
            select unnest(legacy.participant_ids)
        )) as shared_members
    from creates
    join legacy on legacy.account_id = creates.account_id
),

top as (
    select account_id, conversation_id, max(shared_members) as shared_members
    from shared
    where shared_members >= 2
    group by account_id, conversation_id
),

best as (
    select
        shared.account_id,
        shared.conversation_id,
        shared.shared_members,
        count(*) as tied,
        min(shared.dm_conversation_id) as dm_conversation_id
    from shared
    join top
        on top.account_id = shared.account_id
        and top.conversation_id = shared.conversation_id
        and top.shared_members = shared.shared_members
    group by shared.account_id, shared.conversation_id, shared.shared_members
)

select
    creates.account_id,
    creates.conversation_id,
    creates.upgraded_at,
    creates.group_member_ids,
    case when best.tied = 1 then best.dm_conversation_id end as legacy_dm_conversation_id,
    best.shared_members,
    coalesce(best.tied, 0) as legacy_candidates
from creates
left join best
    on best.account_id = creates.account_id
    and best.conversation_id = creates.conversation_id

{%- else %}

select
    null::text as account_id, null::text as conversation_id, null::timestamptz as upgraded_at,
    null::text[] as group_member_ids, null::text as legacy_dm_conversation_id,
    null::integer as shared_members, 0::bigint as legacy_candidates
where false

{%- endif %}
