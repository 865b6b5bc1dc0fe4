"""Config rules that need the run's clock, checked before the first request."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from tap_x_dm.ids_and_times import parse_timestamp


def future_start_date_problem(config: Mapping[str, Any], now_s: float) -> str | None:
    """A `start_date` after now would load nothing, run after run, without a word: refuse it."""
    value = config.get("start_date")
    if not value:
        return None
    try:
        start = parse_timestamp(str(value))
    except ValueError:
        return None  # `cross_setting_problems` names a start_date that is not a date
    now = dt.datetime.fromtimestamp(now_s, tz=dt.timezone.utc)
    if start <= now:
        return None
    return (
        f"start_date {value} is in the future (now is {now:%Y-%m-%dT%H:%M:%SZ}): no DM can be "
        "that new, so every run would load nothing; set a past date, or remove it to read all "
        "X serves."
    )
