"""Users and posts loaded once, then looked up by id (`object_lookups: by_id`).

X bills an expanded user or post on every UTC day it appears in a page, and a
page also carries the objects of events the tap does not emit (those at or
below the bookmark). With `by_id`, DM pages ask for no `sender_id`,
`participant_ids` or `referenced_tweets.id` expansion: at the end of each page,
before its STATE, the users and posts its emitted events refer to that were not
loaded in the last `object_lookups_refresh_days` UTC days are fetched on
`GET /2/users?ids=` and `GET /2/tweets?ids=` (their own rate limits, not the DM
endpoints'). Media stay an expansion: X's `GET /2/media` is not documented to
serve DM attachments (they are private, downloaded through
`/2/dm_conversations/media/...`).

What was loaded is remembered in the object stream's own state
(`bookmarks.users.loaded_by_day`, `bookmarks.tweets.loaded_by_day`): ids by UTC
day, the last `object_lookups_refresh_days` days and at most
`object_lookups_max_ids` ids per stream, so the state never grows with every
object ever seen.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections.abc import Iterable, MutableMapping
from functools import cache
from typing import Any

from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from tap_x_dm.api.client import XStream
from tap_x_dm.schemas import X_SCHEMAS

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

#: The state key, in `bookmarks.users` and `bookmarks.tweets`, of the ids loaded by UTC day.
LOADED_KEY = "loaded_by_day"
#: The state key of the ids queued for the next lookup: a lookup waits for a full batch (or
#: the stream's own turn at the end of the run), and the queue goes out with every STATE, so
#: a kill between a page and its lookup loses no object.
PENDING_KEY = "pending_ids"


def save_pending(state: MutableMapping[str, Any], pending: Iterable[str]) -> None:
    """Keep the queue in state; an empty one is no key (a run ends with none)."""
    queued = list(pending)
    if queued:
        state[PENDING_KEY] = queued
    else:
        state.pop(PENDING_KEY, None)


@cache
def max_ids_per_request(path: str) -> int:
    """How many ids X's spec allows in one `ids=` lookup on `path` (100 on both)."""
    for parameter in X_SCHEMAS.spec["paths"][path]["get"]["parameters"]:
        if "$ref" in parameter:
            parameter = X_SCHEMAS.spec["components"]["parameters"][parameter["$ref"].split("/")[-1]]
        if parameter.get("name") == "ids":
            return int(parameter["schema"]["maxItems"])
    msg = f"X's spec has no ids parameter on {path}"
    raise LookupError(msg)


class LoadedIds:
    """The ids a stream loaded in the last `days` UTC days, at most `max_ids`, in its state.

    Kept in `state[LOADED_KEY]` as `{"2026-12-01": ["123", ...]}` (ids as strings, sorted
    as numbers); the oldest days, then the lowest ids of the oldest day, go first.
    """

    def __init__(
        self, state: MutableMapping[str, Any], *, today: str, days: int, max_ids: int
    ) -> None:
        self._state = state
        self._days = days
        self._max_ids = max_ids
        saved = state.get(LOADED_KEY) or {}
        self._by_day: dict[str, list[str]] = {day: list(saved[day]) for day in sorted(saved)}
        #: The ids, for a page's membership tests (`key in loaded.ids`: no call per id).
        self.ids = {key for ids in self._by_day.values() for key in ids}
        self._prune(today)

    def __contains__(self, key: object) -> bool:
        return key in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, keys: Iterable[str], today: str) -> None:
        """Remember `keys` as loaded on `today`, then forget what is too old or too many."""
        new = [key for key in dict.fromkeys(keys) if key not in self.ids]
        if new:
            day = self._by_day.setdefault(today, [])
            day.extend(new)
            day.sort(key=int)
            self.ids.update(new)
        self._prune(today)

    def _prune(self, today: str) -> None:
        oldest = (dt.date.fromisoformat(today) - dt.timedelta(days=self._days - 1)).isoformat()
        for day in [day for day in self._by_day if day < oldest]:
            self.ids.difference_update(self._by_day.pop(day))
        excess = len(self.ids) - self._max_ids
        while excess > 0 and self._by_day:
            day = next(iter(self._by_day))
            ids = self._by_day[day]
            dropped, self._by_day[day] = ids[:excess], ids[excess:]
            self.ids.difference_update(dropped)
            excess -= len(dropped)
            if not self._by_day[day]:
                del self._by_day[day]
        self._state[LOADED_KEY] = {day: list(ids) for day, ids in self._by_day.items()}


class ObjectLookupStream(XStream):
    """`GET /2/users?ids=`, `GET /2/tweets?ids=`...: a helper stream (not in the catalog).

    Its requests go through the run's budget, authenticator and retries, and are
    counted in the run's cost ledger under its name; a user or post X cannot
    return (suspended, deleted) is a partial `errors` entry, logged once, never a
    failure. An answer with neither `data` nor `errors` is not an answer about the
    ids (see `validate_response`).
    """

    #: X's lookup endpoint (each subclass's), known before any stream is built.
    path = ""
    #: The setting that lists the fields to ask for, and the query parameter it goes in.
    fields_setting: t.ClassVar[str]
    fields_param: t.ClassVar[str]

    def fields(self) -> str:
        """The `fields_param` value: the configured fields."""
        return ",".join(self.config[self.fields_setting])

    def ids_per_request(self) -> int:
        """The most ids X's spec allows in one request."""
        return max_ids_per_request(self.path)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ids: list[str] = []

    @override
    def get_new_paginator(self) -> None:
        """One batch, one page."""

    @override
    def validate_response(self, response: requests.Response) -> None:
        """A 200 with neither `data` nor `errors` (`{}`) is retried like a 5xx.

        X answers every id it was asked for, in `data` or in `errors`; a body with
        neither says nothing about them. Taken as "none found", the batch would be
        marked loaded and its objects never written. Retried, then a failure: the
        ids stay queued in state for the next run.
        """
        super().validate_response(response)
        payload = self.payload(response)
        if not isinstance(payload, dict) or ("data" not in payload and "errors" not in payload):
            msg = f"GET {self.path} answered 200 without `data` or `errors`"
            raise RetriableAPIError(msg, response)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """The batch's ids and the configured fields (fields are not billed)."""
        return {"ids": ",".join(self._ids), self.fields_param: self.fields()}

    def look_up(self, keys: Iterable[str]) -> list[dict[str, Any]]:
        """The objects X returns for `keys`, in batches of the most ids X's spec allows."""
        keys = list(dict.fromkeys(keys))
        batch = self.ids_per_request()
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), batch):
            self._ids = keys[start : start + batch]
            found.extend(self.request_records(None))
        return found


class UsersLookupStream(ObjectLookupStream):
    """`GET /2/users?ids=`."""

    name = "users_lookup"
    path = "/2/users"
    schema_key = "User"
    data_kind = "users"
    fields_setting = "user_fields"
    fields_param = "user.fields"


class TweetsLookupStream(ObjectLookupStream):
    """`GET /2/tweets?ids=`."""

    name = "tweets_lookup"
    path = "/2/tweets"
    schema_key = "Tweet"
    data_kind = "tweets"
    fields_setting = "tweet_fields"
    fields_param = "tweet.fields"
