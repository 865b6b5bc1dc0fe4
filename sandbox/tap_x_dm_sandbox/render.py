"""Turn full stored events into what X returns for a given set of fields and expansions.

X returns only default fields unless asked, puts expanded users, Tweets and
media in `includes`, and reports expanded objects that are gone as partial
`errors` in a 200. Clients depend on each of these rules, so they live here,
apart from the HTTP plumbing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.errors import resource_not_found
from tap_x_dm_sandbox.params import FieldParams
from tap_x_dm_sandbox.standing import Standing

ALWAYS = frozenset({"id", "event_type"})
#: Default fields per event type, in output order (the common case, so kept cheap).
DEFAULT_EVENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "MessageCreate": ("id", "event_type", "text"),
    "ParticipantsJoin": ("id", "event_type", "participant_ids"),
    "ParticipantsLeave": ("id", "event_type", "participant_ids"),
}
#: 2.166 puts these arrays directly on the event; 2.167 nests them under `entities`.
ENTITY_KEYS = ("urls", "hashtags", "mentions", "cashtags")
DEFAULT_USER_FIELDS = ("id", "name", "username")
DEFAULT_TWEET_FIELDS = frozenset({"id", "text", "edit_history_tweet_ids"})
DEFAULT_MEDIA_FIELDS = frozenset({"media_key", "type"})


def shape_event(
    full: Mapping[str, Any],
    fields: frozenset[str] | None,
    *,
    nested_entities: bool = False,
    also: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Keep the fields X would return; `fields=None` means "dm_event.fields absent".

    `also`: fields the request's expansions bring along (`sender_id` for `expansions=sender_id`).
    """
    if fields is None:
        keys = DEFAULT_EVENT_FIELDS.get(str(full.get("event_type")), ("id", "event_type"))
        keys += tuple(key for key in sorted(also) if key not in keys)
        return {key: full[key] for key in keys if key in full}
    wanted = fields | ALWAYS | also
    with_entities = "entities" in wanted
    out: dict[str, Any] = {}
    entities: dict[str, Any] = {}
    for key, value in full.items():
        if key in ENTITY_KEYS:
            if with_entities:
                entities[key] = value
        elif key == "entities":
            if with_entities and isinstance(value, Mapping):
                entities.update({k: v for k, v in value.items() if v})
        elif key in wanted:
            out[key] = value
    if entities:
        if nested_entities:
            out["entities"] = entities
        else:
            out.update(entities)
    return out


def pick(obj: Mapping[str, Any], keys: Collection[str]) -> dict[str, Any]:
    """Return the object with only `keys`."""
    return {k: v for k, v in obj.items() if k in keys}


class Expander:
    """Collect `includes` and partial `errors` for the events of one answer."""

    def __init__(
        self,
        dataset: Dataset,
        fields: FieldParams,
        *,
        user_fields_default: Collection[str] = DEFAULT_USER_FIELDS,
        standing: Standing | None = None,
        viewer_id: str | None = None,
    ) -> None:
        self._dataset = dataset
        self._standing = standing or Standing()
        self._viewer_id = viewer_id
        self._expansions = fields.expansions
        self._user_fields = (
            fields.user_fields if fields.user_fields is not None else user_fields_default
        )
        self._tweet_fields = DEFAULT_TWEET_FIELDS | (fields.tweet_fields or frozenset())
        self._media_fields = DEFAULT_MEDIA_FIELDS | (fields.media_fields or frozenset())
        # Insertion-ordered dicts: id -> the expansion parameter that named it first.
        self._users: dict[str, str] = {}
        self._tweets: dict[str, None] = {}
        self._media: dict[str, None] = {}

    def add(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Note the ids the requested expansions point at, first appearance first."""
        exp = self._expansions
        if not exp:
            return
        for event in events:
            if "sender_id" in exp and event.get("sender_id"):
                self._users.setdefault(str(event["sender_id"]), "sender_id")
            if "participant_ids" in exp:
                for uid in event.get("participant_ids") or ():
                    self._users.setdefault(str(uid), "participant_ids")
            if "referenced_tweets.id" in exp:
                for ref in event.get("referenced_tweets") or ():
                    self._tweets[str(ref["id"])] = None
            if "attachments.media_keys" in exp:
                attachments = event.get("attachments") or {}
                for key in attachments.get("media_keys") or ():
                    self._media[str(key)] = None

    def result(self) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
        """Return (`includes`, partial `errors`); both empty when nothing was expanded."""
        includes: dict[str, list[dict[str, Any]]] = {}
        errors: list[dict[str, Any]] = []
        users = []
        for uid, parameter in self._users.items():
            user = self._dataset.user(uid)
            refused = self._standing.user_error(uid, parameter=parameter, section="includes")
            if refused is not None:
                errors.append(refused)
            elif user is None:
                errors.append(
                    resource_not_found(resource_type="user", parameter=parameter, value=uid)
                )
            else:
                users.append(user.as_json(self._user_fields))
        tweets = []
        for tid in self._tweets:
            tweet = self._dataset.tweet(tid)
            refused = None
            if tweet is not None:
                refused = self._standing.post_error(
                    tweet,
                    viewer_id=self._viewer_id,
                    parameter="referenced_tweets.id",
                    section="includes",
                )
            if refused is not None:
                errors.append(refused)
            elif tweet is None:
                errors.append(
                    resource_not_found(
                        resource_type="tweet", parameter="referenced_tweets.id", value=tid
                    )
                )
            else:
                shaped = pick(tweet, self._tweet_fields)
                shaped.setdefault("edit_history_tweet_ids", [tid])
                tweets.append(shaped)
        media = []
        for key in self._media:
            item = self._dataset.media(key)
            if item is None:
                errors.append(
                    resource_not_found(
                        resource_type="media", parameter="attachments.media_keys", value=key
                    )
                )
            else:
                media.append(pick(item, self._media_fields))
        if users:
            includes["users"] = users
        if tweets:
            includes["tweets"] = tweets
        if media:
            includes["media"] = media
        return includes, errors
