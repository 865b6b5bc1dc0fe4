-- One row per (account_id, id): every DM event the account's tables hold, from dm_events,
-- conversation_events and archive imports, whichever copy it came in.
--
-- Any column but the keys may be missing from a table (a stream map removed it): it is then
-- NULL here. Another source of events (e.g. XChat) joins as one more branch of `copies`.
{%- set tables = x_dm_event_tables() %}
{%- set optional_columns = [
    ('event_type', 'text'),
    ('text', 'text'),
    ('text_sha256', 'text'),
    ('sender_id', 'text'),
    ('dm_conversation_id', 'text'),
    ('participant_ids', 'text[]'),
    ('attachments', 'jsonb'),
    ('referenced_tweets', 'jsonb[]'),
    ('urls', 'jsonb[]'),
    ('hashtags', 'jsonb[]'),
    ('mentions', 'jsonb[]'),
    ('cashtags', 'jsonb[]'),
    ('source', 'text'),
    ('media_urls', 'text[]'),
    ('_sdc_extracted_at', 'timestamp'),
    ('_sdc_batched_at', 'timestamp'),
] %}

with copies as (
    {%- for table in tables %}
    select
        account_id,
        id,
        created_at,
        {%- for name, type in optional_columns %}
        {{ x_dm_column_or_null(table.columns, name, type) }},
        {%- endfor %}
        '{{ table.name }}' as source_table
    from {{ source('x_dm', table.name) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

ranked as (
    select
        *,
        coalesce(source, 'api') as source_kind,
        -- A stream map may remove the text from one stream and not the other: any copy's.
        max(text) over (partition by account_id, id) as any_text,
        max(text_sha256) over (partition by account_id, id) as any_text_sha256,
        -- The copies of one event hold the same fields; keep the API's (archive exports
        -- lack some), then dm_events', then the latest extracted.
        row_number() over (
            partition by account_id, id
            order by
                case when coalesce(source, 'api') = 'api' then 0 else 1 end,
                case when source_table = 'dm_events' then 0 else 1 end,
                _sdc_extracted_at desc nulls last
        ) as copy_rank
    from copies
)

select
    account_id,
    id,
    dm_conversation_id,
    event_type,
    case
        when event_type <> 'MessageCreate' or sender_id is null then null
        when sender_id = account_id then 'outbound'
        else 'inbound'
    end as direction,
    sender_id,
    created_at at time zone 'UTC' as created_at,
    any_text as text,
    any_text_sha256 as text_sha256,
    participant_ids,
    nullif(attachments, 'null'::jsonb) as attachments,
    case
        when jsonb_typeof(attachments -> 'media_keys') = 'array'
            then array(select jsonb_array_elements_text(attachments -> 'media_keys'))
    end as media_keys,
    media_urls,
    to_jsonb(referenced_tweets) as referenced_tweets,
    to_jsonb(urls) as urls,
    to_jsonb(hashtags) as hashtags,
    to_jsonb(mentions) as mentions,
    to_jsonb(cashtags) as cashtags,
    source_kind as source,
    source_table,
    coalesce(
        {{ x_dm_id_number('id') }},
        {{ x_dm_snowflake_of('created_at') }}
    ) as sort_key,
    _sdc_batched_at at time zone 'UTC' as loaded_at
from ranked
where copy_rank = 1
