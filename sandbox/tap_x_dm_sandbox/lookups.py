"""The two lookup endpoints a DM pipeline needs next: GET /2/users and GET /2/tweets by ids.

Each has its own rate budget (not the DM endpoints'); answers are X-shaped (`data` in
the order asked, a `resource-not-found` entry in `errors` per id X cannot return) and
every object returned is billed (see `billing`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tap_x_dm_sandbox import errors
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.params import (
    BOTH,
    InvalidRequestError,
    accepted_params,
    enum_list,
    expansions,
    post_fields,
    unknown_params,
)
from tap_x_dm_sandbox.render import DEFAULT_MEDIA_FIELDS, DEFAULT_TWEET_FIELDS, pick
from tap_x_dm_sandbox.standing import Standing
from tap_x_dm_sandbox.vocabulary import Vocabulary

MAX_IDS = 100
_ID = re.compile(r"^[0-9]{1,19}$")
USERS_PARAMS = ("ids", "user.fields", "expansions", "tweet.fields")
TWEETS_PARAMS = (
    "ids",
    "tweet.fields",
    "expansions",
    "media.fields",
    "poll.fields",
    "user.fields",
    "place.fields",
)


def _ids(query: Mapping[str, str], problems: list[dict[str, Any]]) -> list[str]:
    """Validate `ids`: 1-100 comma-separated numeric ids (the spec's UserId / TweetId)."""
    raw = query.get("ids")
    if raw is None:
        problems.append(errors.param_error("ids", "", "The `ids` query parameter can not be empty"))
        return []
    items = raw.split(",")
    if not 1 <= len(items) <= MAX_IDS:
        message = (
            f"The number of values in the `ids` query parameter list [{len(items)}] "
            f"is not between 1 and {MAX_IDS}"
        )
        problems.append(errors.param_error("ids", raw, message))
        return []
    for item in items:
        if not _ID.match(item):
            message = f"The `ids` query parameter value [{item}] does not match {_ID.pattern}"
            problems.append(errors.param_error("ids", item, message))
    return list(dict.fromkeys(items))


def _not_found(resource_type: str, value: str) -> dict[str, Any]:
    return errors.resource_not_found(resource_type=resource_type, parameter="ids", value=value)


class LookupEndpoints:
    """GET /2/users?ids= and GET /2/tweets?ids= over the sandbox's users and Tweets."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        user_fields_default: tuple[str, ...],
        vocabulary: Vocabulary = BOTH,
        standing: Standing | None = None,
    ) -> None:
        self.dataset = dataset
        self.standing = standing or Standing()
        self.user_fields_default = user_fields_default
        self.vocabulary = vocabulary

    def users(self, query: Mapping[str, str]) -> dict[str, Any]:
        """Answer GET /2/users: the users asked for, by id, with `user.fields`."""
        problems: list[dict[str, Any]] = []
        vocab = self.vocabulary
        unknown_params(query, accepted_params(USERS_PARAMS, vocab), problems)
        ids = _ids(query, problems)
        fields = enum_list(query, "user.fields", vocab.field_values("user.fields"), problems)
        expansions(query, problems, vocab, "user")
        post_fields(query, problems, vocab)
        if problems:
            raise InvalidRequestError(problems)
        wanted = fields if fields is not None else self.user_fields_default
        data, missing = [], []
        for user_id in ids:
            user = self.dataset.user(user_id)
            refused = self.standing.user_error(user_id, parameter="ids")
            if refused is not None:
                missing.append(refused)
            elif user is None:
                missing.append(_not_found("user", user_id))
            else:
                data.append(user.as_json(wanted))
        return _body(data, {}, missing)

    def tweets(self, query: Mapping[str, str], viewer_id: str | None = None) -> dict[str, Any]:
        """Answer GET /2/tweets: the Tweets asked for, `tweet.fields`, media expansions."""
        problems: list[dict[str, Any]] = []
        vocab = self.vocabulary
        unknown_params(query, accepted_params(TWEETS_PARAMS, vocab), problems)
        ids = _ids(query, problems)
        tweet_fields = post_fields(query, problems, vocab)
        expanded = expansions(query, problems, vocab, "post")
        media_fields = enum_list(
            query, "media.fields", vocab.field_values("media.fields"), problems
        )
        enum_list(query, "user.fields", vocab.field_values("user.fields"), problems)
        if problems:
            raise InvalidRequestError(problems)
        shown = DEFAULT_TWEET_FIELDS | (tweet_fields or frozenset())
        media_shown = DEFAULT_MEDIA_FIELDS | (media_fields or frozenset())
        data, missing = [], []
        media_keys: dict[str, None] = {}
        for tweet_id in ids:
            tweet = self.dataset.tweet(tweet_id)
            if tweet is None:
                missing.append(_not_found("tweet", tweet_id))
                continue
            refused = self.standing.post_error(tweet, viewer_id=viewer_id, parameter="ids")
            if refused is not None:
                missing.append(refused)
                continue
            shaped = pick(tweet, shown)
            shaped.setdefault("edit_history_tweet_ids", [tweet_id])
            data.append(shaped)
            if "attachments.media_keys" in expanded:
                for key in (tweet.get("attachments") or {}).get("media_keys") or ():
                    media_keys[str(key)] = None
        media = []
        for key in media_keys:
            item = self.dataset.media(key)
            if item is None:
                missing.append(
                    errors.resource_not_found(
                        resource_type="media", parameter="attachments.media_keys", value=key
                    )
                )
            else:
                media.append(pick(item, media_shown))
        return _body(data, {"media": media} if media else {}, missing)


def _body(
    data: list[dict[str, Any]], includes: dict[str, Any], missing: list[dict[str, Any]]
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if data:
        body["data"] = data
    if includes:
        body["includes"] = includes
    if missing:
        body["errors"] = missing
    return body
