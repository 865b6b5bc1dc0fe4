"""X's two field vocabularies (issue 21): every event, sender and linked post in every mode."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tap_x_dm.api.answers import shipped_names
from tap_x_dm.api.vocabulary import in_2167_names
from tap_x_dm.state.loading import StateError
from tap_x_dm.state.loading import load as load_state
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock
from tap_x_dm_sandbox.spec import parameter_values
from tests.conftest import run_tap, tap_config
from tests.test_costs import cost_lines

SMALL = {"rate_limit": 10_000, "events": 600, "users": 20, "conversations": 30}


def _rejected(sandbox: Any) -> dict[str, int]:
    found: dict[str, int] = {}
    for entry in sandbox.request_log:
        if entry["status"] == 400:
            found[entry["path"]] = found.get(entry["path"], 0) + 1
    return found


def _day(clock: ManualClock, days_ago: int = 0) -> str:
    moment = dt.datetime.fromtimestamp(clock.time(), tz=dt.timezone.utc)
    return (moment.date() - dt.timedelta(days=days_ago)).isoformat()


@pytest.mark.every_vocabulary
def test_every_event_its_sender_and_linked_posts_load_in_each_vocabulary(
    sandbox_factory: Any, clock: ManualClock, vocabulary: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, **SMALL)
    expected = sandbox.visible_events(window_days=30)

    first = run_tap(sandbox, clock=clock)

    rows = {r["id"]: r for r in first.records("dm_events")}
    assert sorted(rows, key=int) == sorted((e["id"] for e in expected), key=int)
    for event in expected:
        row = rows[event["id"]]
        assert row.get("sender_id") == event.get("sender_id")
        assert row.get("participant_ids") == event.get("participant_ids")
        assert row.get("referenced_tweets") == event.get("referenced_tweets")
        assert row.get("urls") == event.get("urls")
    senders = {e["sender_id"] for e in expected if e.get("sender_id")}
    assert senders <= {u["id"] for u in first.records("users")}
    linked = {
        ref["id"]
        for e in expected
        for ref in e.get("referenced_tweets", [])
        if sandbox.dataset.tweet(ref["id"]) is not None
    }
    tweets = first.records("tweets")
    assert linked and sorted(t["id"] for t in tweets) == sorted(linked)
    assert all("edit_history_post_ids" not in t and "text" in t for t in tweets)
    # At most one rejected request on a first run (2.167 only), none on the next.
    assert _rejected(sandbox) == ({"/2/dm_events": 1} if vocabulary == "2.167" else {})
    warnings = [
        m
        for r in caplog.records
        if r.levelname == "WARNING" and not (m := r.getMessage()).startswith("X could not return")
    ]  # deleted posts aside: the switch in 2.167, and never a field the schema lacks
    assert [m.split(";")[0] for m in warnings] == (
        ["X rejected the OpenAPI 2.166 names (tweet.fields, dm_event.fields)"]
        if vocabulary == "2.167"
        else []
    )
    assert [m for m in caplog.messages if m.startswith("X API version ")] == [
        "X API version %s (its api-version header); asking in OpenAPI 2.166 names."
        % ("2.167" if vocabulary == "2.167" else "2.166")
    ]
    asks = "2.167" if vocabulary == "2.167" else "2.166"
    kept = {"asks": asks, "decided_on": _day(clock)} if asks == "2.167" else None
    assert first.final_state.get("vocabulary") == kept  # absent: 2.166 names
    unasked = [m for m in caplog.messages if m.startswith("Asking X in OpenAPI 2.167 names")]
    assert unasked == (
        [
            "Asking X in OpenAPI 2.167 names, which do not list tweet.fields=author_id, "
            "tweet.fields=edit_history_tweet_ids, tweet.fields=in_reply_to_user_id, "
            "tweet.fields=referenced_tweets: those columns stay null."
        ]
        if asks == "2.167"
        else []
    )
    # One SCHEMA per stream, the same in every mode: the tap's catalog.
    catalog = TapXDM(config=tap_config(sandbox), validate_config=False).catalog_dict
    for entry in catalog["streams"]:
        for schema in first.schemas(entry["tap_stream_id"]):
            assert schema["schema"]["properties"] == entry["schema"]["properties"]
    # Costs: 2.167 expands senders and posts on the pages (billed, counted), others look up.
    lines = cost_lines(caplog)
    dm = lines["dm_events"]
    if vocabulary == "2.167":
        assert int(dm["users"]) > 0 and int(dm["tweets"]) > 0 and "users_lookup" not in lines
    else:
        assert int(dm["users"]) == int(dm["tweets"]) == 0 and "users_lookup" in lines
    assert float(lines["This run"]["usd"]) >= round(sandbox.billed_usd, 2)

    clock.advance(3600)
    sandbox.clear_log()
    second = run_tap(sandbox, clock=clock, state=first.final_state)
    assert second.error is None and _rejected(sandbox) == {}
    assert second.final_state.get("vocabulary") == first.final_state.get("vocabulary")


@pytest.mark.every_vocabulary
def test_lookups_by_id_ask_in_the_state_s_names_and_load_shipped_columns(
    sandbox_factory: Any, clock: ManualClock, vocabulary: str
) -> None:
    sandbox = sandbox_factory(clock=clock, **SMALL)
    tweet_ids = sorted(
        {
            ref["id"]
            for e in sandbox.visible_events(window_days=30)
            for ref in e.get("referenced_tweets", [])
            if sandbox.dataset.tweet(ref["id"]) is not None
        }
    )[:3]
    asks = "2.167" if vocabulary == "2.167" else "2.166"
    state: dict[str, Any] = {
        "account": {"id": sandbox.account.id},
        "bookmarks": {"tweets": {"pending_ids": tweet_ids}},
    }
    if asks == "2.167":
        state["vocabulary"] = {"asks": asks, "decided_on": _day(clock, 1)}

    run = run_tap(sandbox, clock=clock, state=state, select=["tweets"])

    lookups = [e for e in sandbox.request_log if e["path"] == "/2/tweets"]
    assert [e["status"] for e in lookups] == [200]
    assert ("post.fields" in lookups[0]["query"]) == (asks == "2.167")
    tweets = run.records("tweets")
    assert sorted(t["id"] for t in tweets) == tweet_ids
    assert all(t.get("edit_history_tweet_ids") for t in tweets)  # 2.167's edit_history_post_ids


@pytest.mark.every_vocabulary
def test_a_cost_cap_counts_the_users_and_posts_2167_expands(
    sandbox_factory: Any, clock: ManualClock, vocabulary: str
) -> None:
    sandbox = sandbox_factory(clock=clock, **SMALL)
    asks = "2.167" if vocabulary == "2.167" else "2.166"
    oldest = min(sandbox.visible_events(window_days=30), key=lambda e: int(e["id"]))
    # A completed pass tells that X took this run's names: 2.166 (absent), or 2.167 (kept).
    state: dict[str, Any] = {
        "account": {"id": sandbox.account.id},
        "bookmarks": {"dm_events": {"replication_key_id": oldest["id"]}},
    }
    if asks == "2.167":
        state["vocabulary"] = {"asks": asks, "decided_on": _day(clock, 1)}

    run = run_tap(sandbox, clock=clock, state=state, select=["dm_events"], max_cost_usd=1.0)

    pages = [e for e in sandbox.request_log if e["path"] == "/2/dm_events"]
    # $1.00 buys 100 events alone; in 2.167 each may bring two users and a post ($0.035).
    assert pages[0]["query"]["max_results"] == ("28" if asks == "2.167" else "100")
    assert run.error is None and sandbox.billed_usd <= 1.0


@pytest.mark.every_vocabulary
def test_a_first_capped_run_stays_under_the_cap_whatever_the_vocabulary(
    sandbox_factory: Any, clock: ManualClock, vocabulary: str
) -> None:
    sandbox = sandbox_factory(clock=clock, **SMALL)

    run = run_tap(sandbox, clock=clock, select=["dm_events"], max_cost_usd=1.0)

    pages = [e for e in sandbox.request_log if e["path"] == "/2/dm_events"]
    assert pages[0]["query"]["max_results"] == "28"  # a rejected page is asked again in 2.167
    assert run.error is None and sandbox.billed_usd <= 1.0


def test_after_a_week_on_2167_names_2166_names_are_tried_once_again(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    strict = sandbox_factory(clock=clock, vocabulary="2.167", **SMALL)
    stale = {"asks": "2.167", "decided_on": _day(clock, 7)}
    state = {"account": {"id": strict.account.id}, "vocabulary": stale}

    recent = run_tap(
        strict, clock=clock, state={**state, "vocabulary": {**stale, "decided_on": _day(clock, 6)}}
    )
    assert recent.error is None and _rejected(strict) == {}
    strict.clear_log()
    retried = run_tap(strict, clock=clock, state=state)
    assert retried.error is None and _rejected(strict) == {"/2/dm_events": 1}
    assert retried.final_state["vocabulary"] == {"asks": "2.167", "decided_on": _day(clock)}

    both = sandbox_factory(clock=clock, vocabulary="both", **SMALL)
    back = run_tap(both, clock=clock, state={"vocabulary": stale})
    assert _rejected(both) == {}
    assert (
        "post.fields"
        not in next(e for e in both.request_log if e["path"] == "/2/dm_events")["query"]
    )
    assert "vocabulary" not in back.final_state  # 2.166 names again


def test_the_state_s_vocabulary_is_checked_before_any_request() -> None:
    with pytest.raises(StateError, match=r"State key vocabulary\.asks must be"):
        load_state({"vocabulary": {"asks": "2.168", "decided_on": "2026-12-01"}})
    with pytest.raises(StateError, match=r"State key vocabulary\.decided_on must be"):
        load_state({"vocabulary": {"asks": "2.167", "decided_on": "2026-13-45"}})
    assert load_state({"vocabulary": {"asks": "2.167", "decided_on": "2026-12-01"}})


def test_2167_names_are_2166_names_less_what_2167_does_not_list() -> None:
    asked = {
        "max_results": 100,
        "dm_event.fields": ",".join(parameter_values("DmEventFieldsParameter", "2.166")),
        "tweet.fields": ",".join(parameter_values("TweetFieldsParameter", "2.166")),
        "user.fields": ",".join(parameter_values("UserFieldsParameter", "2.166")),
        "expansions": "attachments.media_keys,referenced_tweets.id",
    }
    out, unasked = in_2167_names(asked)
    allowed = {
        "dm_event.fields": "DmEventFieldsParameter",
        "post.fields": "PostFieldsParameter",
        "user.fields": "UserFieldsParameter",
        "expansions": "DmEventExpansionsParameter",
    }
    for name, component in allowed.items():
        assert set(out[name].split(",")) <= set(parameter_values(component, "2.167")), name
    assert "tweet.fields" not in out and out["max_results"] == 100
    assert set(out["expansions"].split(",")) == set(
        parameter_values("DmEventExpansionsParameter", "2.167")
    )
    assert sorted(unasked) == sorted(
        [
            f"tweet.fields={v}"
            for v in (
                "author_id",
                "edit_history_tweet_ids",
                "in_reply_to_user_id",
                "referenced_tweets",
            )
        ]
        + [f"user.fields={v}" for v in ("affiliation", "most_recent_tweet_id", "pinned_tweet_id")]
    )
    assert shipped_names({"referenced_posts": [1], "note_post": {}}) == {
        "referenced_tweets": [1],
        "note_tweet": {},
    }


@pytest.mark.every_vocabulary
def test_conversations_load_every_event_and_sender_with_one_rejection_at_most(
    sandbox_factory: Any, clock: ManualClock, vocabulary: str
) -> None:
    sandbox = sandbox_factory(clock=clock, **SMALL)
    account = sandbox.account.id
    conversations = sandbox.dataset.conversations_of(account)
    group = next(c for c in conversations if "-" not in c)
    one_to_one = next(c for c in conversations if "-" in c)
    participant = next(u for u in one_to_one.split("-") if u != account)
    expected = [
        *sandbox.visible_events(conversation_id=group, window_days=None),
        *sandbox.visible_events(conversation_id=one_to_one, window_days=None),
    ]
    settings = {"dm_conversation_ids": [group], "participant_ids": [participant]}
    select = ["conversation_events", "users"]

    first = run_tap(sandbox, clock=clock, select=select, **settings)

    rows = {r["id"]: r for r in first.records("conversation_events")}
    assert sorted(rows, key=int) == sorted((e["id"] for e in expected), key=int)
    assert all(rows[e["id"]].get("sender_id") == e.get("sender_id") for e in expected)
    senders = {e["sender_id"] for e in expected if e.get("sender_id")}
    assert senders <= {u["id"] for u in first.records("users")}
    rejected = _rejected(sandbox)
    assert sum(rejected.values()) == (vocabulary == "2.167") and set(rejected.values()) <= {1}

    sandbox.clear_log()
    clock.advance(3600)
    second = run_tap(sandbox, clock=clock, state=first.final_state, select=select, **settings)
    assert second.error is None and _rejected(sandbox) == {}


@pytest.mark.every_vocabulary
def test_a_suspended_sender_is_one_warning_and_never_looked_up_in_vain(
    sandbox_factory: Any, clock: ManualClock, vocabulary: str, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, **SMALL)
    expected = sandbox.visible_events(window_days=30)
    account = sandbox.account.id
    suspended = next(e["sender_id"] for e in expected if e.get("sender_id", account) != account)
    sandbox.suspend_user(suspended)

    with caplog.at_level("WARNING"):
        run = run_tap(sandbox, clock=clock)

    assert run.error is None and len(run.ids()) == len(expected)
    assert suspended not in {u["id"] for u in run.records("users")}
    named = [m for m in caplog.messages if suspended in m]
    assert len(named) == 1 and f"(Forbidden: {suspended})" in named[0]  # one line an answer
    user_lookups = [e for e in sandbox.request_log if e["path"] == "/2/users"]
    assert (user_lookups == []) == (vocabulary == "2.167")  # 2.167 pages carry the users
