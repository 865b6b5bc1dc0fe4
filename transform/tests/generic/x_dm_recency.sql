{#- The newest value of the column is recent: a warning when it is `warn_after_days` old or
    more, an error at `error_after_days` (the vars x_dm_recency_warn_after_days and
    x_dm_recency_error_after_days, default 2 and 20: before X's 30-day window closes on the
    oldest events not loaded). The test's "failures" are the days since the newest value; an
    empty model counts as stale. -#}
{% test x_dm_recency(model, column_name, warn_after_days=none, error_after_days=none) %}
{%- set warn_days = warn_after_days or var('x_dm_recency_warn_after_days', 2) -%}
{%- set error_days = error_after_days or var('x_dm_recency_error_after_days', 20) -%}
{{ config(
    fail_calc='coalesce(max(days_behind), 2147483647)',
    warn_if='>= ' ~ warn_days,
    error_if='>= ' ~ error_days,
) }}
select floor(extract(epoch from (now() - max({{ column_name }}))) / 86400)::int as days_behind
from {{ model }}
{% endtest %}
