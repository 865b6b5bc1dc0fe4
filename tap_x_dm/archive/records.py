"""Archive items as `dm_events` records: the API's fields, `source` = `archive`.

The archive writes camelCase items, one key each (`messageCreate`,
`participantsJoin`, ...); the API writes `DmEvent` objects. Mapping here keeps
the warehouse's columns one set: an archive row differs from an API row only
where the archive knows less (no media keys, no hashtags or mentions) or more
(`media_urls`, the archive's links to a message's media).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tap_x_dm.archive.ids import DerivedIds
from tap_x_dm.ids_and_times import canonical_conversation_id, epoch_ms, x_time_text

#: Every column a `dm_events` row has, in the order the API's fields are listed.
EVENT_FIELDS = (
    *("id", "event_type", "text", "sender_id", "dm_conversation_id", "created_at"),
    *("participant_ids", "attachments", "referenced_tweets", "urls", "hashtags"),
    *("mentions", "cashtags", "account_id", "source", "media_urls"),
)

_X_ID = re.compile(r"[0-9]{1,19}")
_CONVERSATION = re.compile(r"[0-9]{1,19}(-[0-9]{1,19})?")
_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*(Z|[+-]\d\d:?\d\d)?",
    re.IGNORECASE,
)
_EPOCH_MS = re.compile(r"\d{12,13}")
_STATUS_URL = re.compile(
    r"https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/[^/?#]+/status(?:es)?/([0-9]{1,19})(?!\d)",
    re.IGNORECASE,
)
#: Item kinds that become no row: counted for the summary line.
REACTION_KINDS = ("reactionCreate", "messageReaction", "reaction")
NAME_UPDATE = "conversationNameUpdate"


class ItemError(ValueError):
    """An item the archive cannot have meant; the reader adds file and conversation."""


def x_time(value: Any) -> str:
    """An archive time as X writes `created_at`: `YYYY-MM-DDTHH:MM:SS.mmmZ`, in UTC.

    Accepts ISO 8601 with `Z`, an offset or no zone (taken as UTC), any number
    of fraction digits (cut to milliseconds), and epoch milliseconds.
    """
    text = str(value).strip()
    if _EPOCH_MS.fullmatch(text):
        return x_time_text(int(text))
    match = _TIME.fullmatch(text)
    if match is None:
        msg = f"createdAt {text[:40]!r} is not a time"
        raise ItemError(msg)
    *fields, fraction, zone = match.groups()
    zone = (zone or "Z").upper()
    offset = dt.timedelta(0)
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        year, month, day, hour, minute, second = map(int, fields)
        moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone(offset))
    except ValueError as exc:
        msg = f"createdAt {text[:40]!r} is not a time ({exc})"
        raise ItemError(msg) from exc
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    return x_time_text(epoch_ms(moment) + millis)


def _x_id(value: Any, what: str) -> str:
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    if not _X_ID.fullmatch(text):
        msg = f"{what} {str(value)[:40]!r} is not an X id"
        raise ItemError(msg)
    return text


def _user_ids(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return [_x_id(user, what) for user in value]


def url_entities(text: str | None, urls: Any) -> list[dict[str, Any]] | None:
    """The archive's `urls` (`url`, `expanded`, `display`) in the API's shape.

    The archive has no indices: `start`/`end` are where the link occurs in the
    text (in code points, after the previous link), and absent when it does not.
    """
    if not isinstance(urls, list):
        return None
    entities: list[dict[str, Any]] = []
    search_from = 0
    for raw in urls:
        item = {"url": raw} if isinstance(raw, str) else raw
        if not isinstance(item, dict) or not item.get("url"):
            continue
        url = str(item["url"])
        entity: dict[str, Any] = {}
        start, end = _indices(item)
        if start is None and text:
            found = text.find(url, search_from)
            found = text.find(url) if found < 0 else found
            if found >= 0:
                start, end = found, found + len(url)
        if start is not None and end is not None:
            entity["start"], entity["end"] = start, end
            search_from = max(search_from, end)
        entity["url"] = url
        expanded = item.get("expanded") or item.get("expanded_url") or item.get("expandedUrl")
        display = item.get("display") or item.get("display_url") or item.get("displayUrl")
        if expanded:
            entity["expanded_url"] = str(expanded)
        if display:
            entity["display_url"] = str(display)
        entities.append(entity)
    return entities or None


def _indices(item: dict[str, Any]) -> tuple[int | None, int | None]:
    pair = item.get("indices")
    if not (isinstance(pair, list) and len(pair) == 2):
        if "start" not in item or "end" not in item:
            return None, None
        pair = [item["start"], item["end"]]
    try:
        start, end = int(pair[0]), int(pair[1])
    except (TypeError, ValueError):
        return None, None
    return (start, end) if 0 <= start < end else (None, None)


def referenced_tweets(urls: list[dict[str, Any]] | None) -> list[dict[str, str]] | None:
    """Posts the message links to, as the API lists them (`[{"id": ...}]`)."""
    ids: list[str] = []
    for entity in urls or []:
        match = _STATUS_URL.match(str(entity.get("expanded_url") or ""))
        if match and match.group(1) not in ids:
            ids.append(match.group(1))
    return [{"id": tweet_id} for tweet_id in ids] or None


def count_reactions(value: Any) -> int:
    """Reactions on a message, whichever nesting the archive uses (it varies)."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        return sum(len(v) for v in lists) if lists else 1
    return 0


@dataclass
class Tally:
    """What one reading saw: counts for the summary line, and the time range."""

    messages: int = 0
    joins: int = 0
    leaves: int = 0
    reactions: int = 0
    name_updates: int = 0
    other: Counter[str] = field(default_factory=Counter)
    oldest: str | None = None
    newest: str | None = None

    def saw_time(self, created_at: str) -> None:
        """Widen the time range (X's format sorts as text)."""
        if self.oldest is None or created_at < self.oldest:
            self.oldest = created_at
        if self.newest is None or created_at > self.newest:
            self.newest = created_at


class RecordMapper:
    """Turns archive items into `dm_events` rows for one account."""

    def __init__(self, account_id: str, tally: Tally) -> None:
        self.account_id = account_id
        self.tally = tally
        self._ids = DerivedIds()

    def record(self, conversation_id: str, item: Any) -> dict[str, Any] | None:
        """The row for `item`, or None for what `dm_events` does not hold (counted)."""
        if not isinstance(item, dict) or not item:
            raise ItemError("an item is not an object")
        kind, body = next(iter(item.items()))
        if not isinstance(body, dict):
            msg = f"{kind} is not an object"
            raise ItemError(msg)
        if not _CONVERSATION.fullmatch(conversation_id):
            msg = f"conversationId {conversation_id[:40]!r} is not an X conversation id"
            raise ItemError(msg)
        conversation = canonical_conversation_id(conversation_id)
        if kind == "messageCreate":
            return self._message(conversation, body)
        if kind in ("participantsJoin", "participantsLeave", "joinConversation"):
            return self._membership(conversation, kind, body)
        if kind in REACTION_KINDS:
            self.tally.reactions += 1
        elif kind == NAME_UPDATE:
            self.tally.name_updates += 1
        else:
            self.tally.other[kind] += 1
        return None

    def _row(self, **values: Any) -> dict[str, Any]:
        row = dict.fromkeys(EVENT_FIELDS)
        row.update(values, account_id=self.account_id, source="archive")
        self.tally.saw_time(str(row["created_at"]))
        return row

    def _message(self, conversation: str, body: dict[str, Any]) -> dict[str, Any]:
        event_id = _x_id(body.get("id"), "messageCreate id")
        created_at = x_time(body.get("createdAt"))
        text = body.get("text")
        text = None if text is None else str(text)
        urls = url_entities(text, body.get("urls"))
        media = [str(url) for url in body.get("mediaUrls") or [] if url]
        sender = body.get("senderId")
        self.tally.messages += 1
        self.tally.reactions += count_reactions(body.get("reactions"))
        return self._row(
            id=event_id,
            event_type="MessageCreate",
            text=text,
            sender_id=None if sender is None else _x_id(sender, "senderId"),
            dm_conversation_id=conversation,
            created_at=created_at,
            referenced_tweets=referenced_tweets(urls),
            urls=urls,
            media_urls=media or None,
        )

    def _membership(self, conversation: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        created_at = x_time(body.get("createdAt"))
        initiator = body.get("initiatingUserId")
        sender = None if initiator is None else _x_id(initiator, "initiatingUserId")
        if kind == "joinConversation":
            users = [self.account_id]
        else:
            users = _user_ids(body.get("userIds"), "userIds item")
        if kind == "participantsLeave":
            event_type, sender = "ParticipantsLeave", None
            self.tally.leaves += 1
        else:
            event_type = "ParticipantsJoin"
            self.tally.joins += 1
        event_id = body.get("id") or body.get("eventId")
        if event_id is not None:
            event_id = _x_id(event_id, f"{kind} id")
        else:
            event_id = self._ids.next(conversation, event_type, created_at, sender, users)
        return self._row(
            id=event_id,
            event_type=event_type,
            sender_id=sender,
            dm_conversation_id=conversation,
            created_at=created_at,
            participant_ids=users or None,
        )
