"""X's two field vocabularies: ask in 2.166 names, fall back to 2.167's once, read both.

X's production spec is OpenAPI 2.167 ("post" for "tweet"); whether the live API still
takes 2.166 names is unconfirmed, and the one probe found it taking both. So a run asks
in 2.166 names (the tap's shipped spec: every column it loads) and, when X answers 400
naming a fields or expansions parameter or value, asks again once in 2.167 names and
keeps that choice in the state (`vocabulary`), so later runs pay no rejected request.
After a week on 2.167 a run tries 2.166 again (one rejected request at most a week).

In 2.167 names the tap asks only the values 2.167 lists (the others' columns stay
null, one INFO line), and gets `sender_id`, `participant_ids` and the linked posts
through their expansions: X returns (and bills) those users and posts in `includes`.
Whatever was asked, answers are read in either vocabulary (`tap_x_dm.api.answers`,
`PageIncludes`), so every stream keeps one schema.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, MutableMapping
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from tap_x_dm.clock import Clock
from tap_x_dm.ids_and_times import utc_day

#: The top-level state key, only while X takes 2.167 names and not 2.166 ones:
#: `{"asks": "2.167", "decided_on": "2026-12-06"}` (state.schema.json); absent: 2.166.
STATE_KEY: Final = "vocabulary"
V2166: Final = "2.166"
V2167: Final = "2.167"
#: Days before a run on 2.167 tries the tap's own 2.166 names again.
RETRY_DAYS: Final = 7
#: Query parameters whose names or values differ between the vocabularies.
FIELD_PARAMETERS: Final = frozenset(
    {"dm_event.fields", "tweet.fields", "post.fields", "user.fields", "media.fields", "expansions"}
)
#: 2.166 values 2.167 does not list, per parameter (OpenAPI 2.167, `*FieldsParameter`).
DROPPED_IN_2167: Final[Mapping[str, frozenset[str]]] = {
    "tweet.fields": frozenset(
        {"author_id", "edit_history_tweet_ids", "in_reply_to_user_id", "referenced_tweets"}
    ),
    "user.fields": frozenset({"affiliation", "most_recent_tweet_id", "pinned_tweet_id"}),
}
#: 2.166 values renamed by 2.167 (fields and expansions alike).
RENAMED_IN_2167: Final[Mapping[str, str]] = {
    "note_tweet": "note_post",
    "referenced_tweets.id": "referenced_posts",
}
#: `dm_event.fields` values 2.167 serves only through an expansion (the objects come too).
EVENT_FIELDS_AS_EXPANSIONS: Final[Mapping[str, str]] = {
    "sender_id": "sender_id",
    "participant_ids": "participant_ids",
    "referenced_tweets": "referenced_posts",
}
#: Parameters whose acceptance tells the vocabulary (`user.fields=id,name,username` does not).
_TELLING: Final = ("dm_event.fields", "tweet.fields", "post.fields")


def _split(value: Any) -> list[str]:
    return [v for v in str(value).split(",") if v] if value is not None else []


def in_2167_names(params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`params` (in 2.166 names) in 2.167 names, and the `param=value`s 2.167 cannot ask."""
    out: dict[str, Any] = {}
    unasked: list[str] = []
    expansions: dict[str, None] = {}
    for name, value in params.items():
        if name not in FIELD_PARAMETERS:
            out[name] = value
            continue
        kept: list[str] = []
        for item in _split(value):
            if name == "dm_event.fields" and item in EVENT_FIELDS_AS_EXPANSIONS:
                expansions[EVENT_FIELDS_AS_EXPANSIONS[item]] = None
            elif item in DROPPED_IN_2167.get(name, ()):
                unasked.append(f"{name}={item}")
            elif name == "expansions":
                expansions[RENAMED_IN_2167.get(item, item)] = None
            else:
                kept.append(RENAMED_IN_2167.get(item, item))
        if name == "expansions":
            continue
        if kept:
            out["post.fields" if name == "tweet.fields" else name] = ",".join(kept)
    if expansions:
        out["expansions"] = ",".join(expansions)
    return out, unasked


class AskedVocabulary:
    """The run's choice of names, kept in the tap's state (one per run, shared by streams).

    With `kept=False`, one API's choice for the run only, from `first` (the Chat API's:
    `tap_x_dm.chat.run.ChatRun`, over its own `parameters`).
    """

    def __init__(
        self,
        state: MutableMapping[str, Any],
        clock: Clock,
        logger: logging.Logger,
        *,
        parameters: frozenset[str] = FIELD_PARAMETERS,
        first: str = V2166,
        kept: bool = True,
    ) -> None:
        self._parameters = parameters
        self._first = first
        self._kept = kept
        self._state = state
        self._clock = clock
        self._logger = logger
        self._switched = False
        self._said_unasked = False
        self._said_version = False
        self._version: str | None = None
        #: Whether X answered a request in this run's names (or the state says it did).
        self._confirmed = False

    @property
    def version(self) -> str:
        """The names this run asks in (decided on first use, from the state)."""
        if self._version is None and not self._kept:
            self._version = self._first
        if self._version is None:
            saved = self._state.get(STATE_KEY)
            asks = saved.get("asks") if isinstance(saved, dict) else None
            # Absent: 2.166 names, which X took if an earlier run completed a pass.
            self._version, self._confirmed = V2166, asks is None and _answered_before(self._state)
            if asks == V2167:
                since = dt.date.fromisoformat(str(saved["decided_on"]))  # type: ignore[index]
                age = (dt.date.fromisoformat(utc_day(self._clock.time())) - since).days
                self._version, self._confirmed = (
                    (V2167, True) if age < RETRY_DAYS else (V2166, False)
                )
                if age >= RETRY_DAYS:
                    self._logger.info(
                        "X rejected 2.166 names %d day(s) ago; trying them again (a rejection "
                        "costs one request, then the run asks in 2.167 names).",
                        age,
                    )
        return self._version

    def billed_kinds(self) -> frozenset[str]:
        """Kinds a page may return whatever is selected (for `max_cost_usd`).

        In 2.167 names, senders and linked posts; and so until X has accepted 2.166
        names in this run or an earlier one (a rejected page is asked again in 2.167).
        """
        if self.version == V2167 or not self._confirmed:
            return frozenset({"users", "tweets"})
        return frozenset()

    def outgoing(self, params: dict[str, Any]) -> dict[str, Any]:
        """A request's query (built in 2.166 names) in the names this run asks in."""
        if self.version == V2166 or not FIELD_PARAMETERS.intersection(params):
            return params
        translated, unasked = in_2167_names(params)
        if unasked and not self._said_unasked:
            self._said_unasked = True
            self._logger.info(
                "Asking X in OpenAPI 2.167 names, which do not list %s: those columns stay null.",
                ", ".join(sorted(set(unasked))),
            )
        return translated

    def switch_after(self, status: int | None, parameters: tuple[str, ...]) -> bool:
        """After X's 400 naming a fields or expansions parameter, switch names (once a run)."""
        if status != requests.codes.bad_request or self._switched:
            return False
        if not self._parameters.intersection(parameters):
            return False
        self._switched = True
        asked = self.version
        self._version = V2167 if asked == V2166 else V2166
        self._confirmed = False  # written in the state once X answers in these names
        rejected = ", ".join(p for p in parameters if p in self._parameters)
        if not self._kept:
            self._logger.info(
                "X rejected the OpenAPI %s names (%s); asking in %s names for the rest of the run.",
                asked,
                rejected,
                self._version,
            )
            return True
        self._logger.warning(
            "X rejected the OpenAPI %s names (%s); asking again in %s names, and so will the "
            "next runs (the state's %s; the other names are tried again after %d days).",
            asked,
            rejected,
            self._version,
            STATE_KEY,
            RETRY_DAYS,
        )
        return True

    def rewrite(self, request: requests.PreparedRequest, params: Mapping[str, Any]) -> None:
        """Put a prepared request's query (`params`, in 2.166 names) in this run's names."""
        base = urlsplit(request.url or "")._replace(query="").geturl()
        request.prepare_url(base, self.outgoing(dict(params)))

    def observe(self, response: requests.Response) -> None:
        """Log X's `api-version` once; note (in the state) that X took this run's names."""
        if not self._said_version and response.headers.get("api-version"):
            self._said_version = True
            self._logger.info(
                "X API version %s (its api-version header); asking in OpenAPI %s names.",
                response.headers["api-version"],
                self.version,
            )
        if self._confirmed or response.status_code != requests.codes.ok:
            return
        query = urlsplit(response.request.url or "").query if response.request else ""
        if any(f"{name}=" in query for name in _TELLING):
            self._confirmed = True
            saved = self._state.get(STATE_KEY)
            if self._switched or not isinstance(saved, dict) or saved.get("asks") != self.version:
                self._remember(self.version)

    def _remember(self, version: str) -> None:
        """Only 2.167 is kept, with its date for the weekly retry: absent means 2.166."""
        if version == V2167:
            self._state[STATE_KEY] = {"asks": version, "decided_on": utc_day(self._clock.time())}
        else:
            self._state.pop(STATE_KEY, None)


def _answered_before(state: Mapping[str, Any]) -> bool:
    """Whether a pass of an earlier run completed (X answered its requests' names)."""
    bookmarks = state.get("bookmarks") or {}
    entries = [bookmarks.get("dm_events") or {}]
    entries += (bookmarks.get("conversation_events") or {}).get("partitions") or []
    return any(entry.get("replication_key_id") for entry in entries)
