"""`object_lookups: by_id`: users and posts loaded once, on their endpoints, kept in state."""

from __future__ import annotations

from typing import Any

import pytest

from tap_x_dm.objects.includes import references_of
from tap_x_dm.objects.lookups import LOADED_KEY, LoadedIds, UsersLookupStream, max_ids_per_request
from tap_x_dm.state.loading import StateError, load
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock
from tests.conftest import Killed, dm_requests, run_tap, tap_config

DAY = 86_400


def endpoint_requests(sandbox: Any, endpoint: str) -> list[dict[str, Any]]:
    return [entry for entry in sandbox.request_log if entry["endpoint"] == endpoint]


def referenced(events: list[dict[str, Any]], kind: str) -> set[str]:
    return {key for event in events for key in references_of(event)[kind]}


def deleted(sandbox: Any, kind: str, key: str) -> bool:
    return kind == "tweets" and bool(sandbox.dataset.is_deleted_tweet(key))


def loaded(state: dict[str, Any], stream: str) -> dict[str, list[str]]:
    return state["bookmarks"][stream][LOADED_KEY]


@pytest.mark.parametrize("mode", ["by_id", "expansions"])
def test_users_seen_again_on_a_later_day_are_billed_again_only_when_expanded(
    sandbox_factory: Any, clock: ManualClock, mode: str
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=80, conversations=4)
    account = sandbox.account.id
    day1 = run_tap(sandbox, clock=clock, object_lookups=mode)
    emitted = sandbox.visible_events()
    assert {r["id"] for r in day1.records("users")} == referenced(emitted, "users")
    customer = next(e for e in emitted if e.get("sender_id") not in (None, account))
    billed_day1 = sandbox.billed["users"]

    clock.advance(DAY)  # the next UTC day: X bills every object it returns again
    sandbox.clear_log()
    new = sandbox.add_events(
        3, conversation_id=customer["dm_conversation_id"], sender_id=customer["sender_id"]
    )
    day2 = run_tap(sandbox, clock=clock, state=day1.final_state, object_lookups=mode)

    assert day2.ids() == [e["id"] for e in reversed(new)]
    billed_day2 = sandbox.billed["users"] - billed_day1
    if mode == "by_id":
        assert billed_day2 == 0
        assert day2.records("users") == []
        assert endpoint_requests(sandbox, "users_lookup") == []
        assert customer["sender_id"] in {
            i for ids in loaded(day2.final_state, "users").values() for i in ids
        }
    else:
        assert billed_day2 >= 1  # the sender again, with every user of the page's older events
        assert [r["id"] for r in day2.records("users")] == [customer["sender_id"]]
    assert all(
        "sender_id" not in e["query"].get("expansions", "") for e in dm_requests(sandbox)
    ) == (mode == "by_id")


def test_by_id_pages_expand_only_media_and_load_the_same_rows_as_expansions(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=400, conversations=20)
    by_id = run_tap(sandbox, clock=clock)  # the default
    assert {e["query"]["expansions"] for e in dm_requests(sandbox)} == {"attachments.media_keys"}
    looked_up = endpoint_requests(sandbox, "users_lookup") + endpoint_requests(
        sandbox, "tweets_lookup"
    )
    assert looked_up and all(e["status"] == 200 for e in looked_up)
    assert all(e["query"]["user.fields"] for e in endpoint_requests(sandbox, "users_lookup"))
    sandbox.clear_log()
    expanded = run_tap(sandbox, clock=clock, object_lookups="expansions")

    assert by_id.ids() == expanded.ids()
    for stream in ("users", "tweets", "media"):
        key = "media_key" if stream == "media" else "id"
        rows = {r[key]: r for r in by_id.records(stream)}
        assert rows == {r[key]: r for r in expanded.records(stream)}, stream
        assert len(rows) == len(by_id.records(stream))  # each once


def test_a_deleted_tweet_is_logged_once_remembered_and_not_a_failure(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    tweets = referenced(sandbox.visible_events(), "tweets")
    deleted = {t for t in tweets if sandbox.dataset.is_deleted_tweet(t)}
    assert deleted and tweets - deleted

    run = run_tap(sandbox, clock=clock)

    assert {r["id"] for r in run.records("tweets")} == tweets - deleted
    remembered = {i for ids in loaded(run.final_state, "tweets").values() for i in ids}
    assert remembered == tweets  # a deleted one is not asked for again
    lines = [r.getMessage() for r in caplog.records if "could not return" in r.getMessage()]
    assert len(lines) == 1  # one line for the lookup's answer, naming each deleted post
    assert f"could not return {len(deleted)} tweet(s) referenced by DM events" in lines[0]
    assert 1 < len(deleted) <= 10
    assert all(tweet in lines[0] for tweet in deleted)


@pytest.mark.every_vocabulary
def test_a_lookup_is_split_at_the_most_ids_x_allows(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, users=260)
    assert max_ids_per_request("/2/users") == max_ids_per_request("/2/tweets") == 100
    tap = TapXDM(config=tap_config(sandbox), clock=clock)
    ids = [user.id for user in sandbox.users[:250]] + ["1"]  # one X cannot find

    found = UsersLookupStream(tap, tap.services).look_up([*ids, ids[0]])

    assert [user["id"] for user in found] == ids[:250]
    asked = [e["query"]["ids"].split(",") for e in endpoint_requests(sandbox, "users_lookup")]
    assert [len(batch) for batch in asked] == [100, 100, 51]
    assert [i for batch in asked for i in batch] == ids
    assert tap.services.costs.totals("users_lookup") == {
        "requests": 3, "dm_events": 0, "users": 250, "tweets": 0, "media": 0, "chat_events": 0,
    }  # fmt: skip


def test_a_kill_after_a_page_before_its_lookups_loses_no_user(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=400, conversations=20)
    events = sandbox.visible_events()
    last_of_first_page = events[99]["id"]

    def kill(message: dict[str, Any]) -> None:
        if message["type"] == "RECORD" and message["record"].get("id") == last_of_first_page:
            raise Killed

    killed = run_tap(sandbox, clock=clock, on_message=kill, raise_errors=False)
    assert isinstance(killed.error, Killed)
    assert killed.records("users") == []  # the page's users were not looked up yet
    rerun = run_tap(sandbox, clock=clock, state=killed.final_state)

    assert {r["id"] for r in rerun.records("users")} == referenced(events, "users")
    assert set(killed.ids()) | set(rerun.ids()) == {e["id"] for e in events}


def test_the_state_remembers_at_most_the_cap_and_forgets_old_days(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    run = run_tap(sandbox, clock=clock, object_lookups_max_ids=7)
    for stream in ("users", "tweets"):
        days = loaded(run.final_state, stream)
        assert len(referenced(sandbox.visible_events(), stream)) > 7
        assert sum(len(ids) for ids in days.values()) == 7
        assert all(isinstance(i, str) for ids in days.values() for i in ids)

    state: dict[str, Any] = {}
    memory = LoadedIds(state, today="2026-12-01", days=7, max_ids=4)
    memory.add(["30", "4"], "2026-11-20")
    memory.add(["5", "6"], "2026-11-25")
    memory.add(["7", "5", "8"], "2026-12-01")  # 2026-11-20 is now 11 days old
    assert state[LOADED_KEY] == {"2026-11-25": ["5", "6"], "2026-12-01": ["7", "8"]}
    memory.add(["9"], "2026-12-01")  # one over the cap: the oldest day's lowest id goes
    assert state[LOADED_KEY] == {"2026-11-25": ["6"], "2026-12-01": ["7", "8", "9"]}
    assert "30" not in memory and "5" not in memory and "6" in memory and len(memory) == 4
    again = LoadedIds(state, today="2026-12-07", days=7, max_ids=4)
    assert state[LOADED_KEY] == {"2026-12-01": ["7", "8", "9"]} and "6" not in again


@pytest.mark.parametrize(
    "value", [["1"], {"2026-12-01": [1]}, {"yesterday": ["1"]}, {"2026-12-01": "1"}]
)
def test_a_broken_loaded_by_day_is_one_line_naming_it(value: object) -> None:
    with pytest.raises(StateError, match=r"^State key bookmarks\.users\.loaded_by_day must map"):
        load({"version": 2, "bookmarks": {"users": {LOADED_KEY: value}}})


def test_lookups_wait_for_full_batches_and_the_queue_is_in_every_state(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    """One request per 100 ids, not one per page; what waits is in state, so a kill loses none."""
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=1_500, conversations=60)
    events = sandbox.visible_events()
    run = run_tap(sandbox, clock=clock, page_size=50)

    for kind, endpoint in (("users", "users_lookup"), ("tweets", "tweets_lookup")):
        wanted = referenced(events, kind)
        asked = [e["query"]["ids"].split(",") for e in endpoint_requests(sandbox, endpoint)]
        assert sorted(i for batch in asked for i in batch) == sorted(wanted)  # each id once
        assert [len(batch) for batch in asked[:-1]] == [100] * (len(asked) - 1)
        assert len(asked) == -(-len(wanted) // 100)
    queued = [s.get("bookmarks", {}).get("tweets", {}).get("pending_ids") for s in run.states]
    assert any(queued), "the queue goes out with the STATE of the pages"
    assert "pending_ids" not in run.final_state["bookmarks"]["tweets"]  # none left: no key


def test_an_empty_lookup_answer_is_retried_like_a_5xx(sandbox_factory: Any) -> None:
    # A fixed start: the sandbox's ids (so which posts are deleted) follow the clock, and
    # from a wall-clock start the history's only live post was now and then a deleted one.
    clock = ManualClock(1_796_083_200)
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=80, conversations=4)
    wanted = referenced(sandbox.visible_events(), "tweets")
    tweets = {t for t in wanted if not sandbox.dataset.is_deleted_tweet(t)}
    assert tweets
    sandbox.faults.inject("malformed_200", count=1, path_prefix="/2/tweets", body={})

    run = run_tap(sandbox, clock=clock)

    asked = endpoint_requests(sandbox, "tweets_lookup")
    assert [e["fault"] for e in asked] == ["malformed_200", None]
    assert asked[0]["query"]["ids"] == asked[1]["query"]["ids"]
    assert {r["id"] for r in run.records("tweets")} == tweets


def test_empty_lookup_answers_to_the_last_retry_keep_the_ids_queued(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=80, conversations=4)
    wanted = referenced(sandbox.visible_events(), "tweets")
    sandbox.faults.inject("malformed_200", count=2, path_prefix="/2/tweets", body={})

    failed = run_tap(sandbox, clock=clock, max_retries=1, raise_errors=False)

    assert str(failed.error) == (
        "GET /2/tweets answered 200 without `data` or `errors` (gave up after 2 tries)"
    )
    faults = [e["fault"] for e in endpoint_requests(sandbox, "tweets_lookup")]
    assert faults == ["malformed_200", "malformed_200"]
    tweets_state = failed.final_state["bookmarks"]["tweets"]
    assert set(tweets_state["pending_ids"]) == wanted
    assert not {i for ids in tweets_state.get(LOADED_KEY, {}).values() for i in ids} & wanted
    assert failed.records("tweets") == []

    again = run_tap(sandbox, clock=clock, state=failed.final_state)

    deleted = {t for t in wanted if sandbox.dataset.is_deleted_tweet(t)}
    assert {r["id"] for r in again.records("tweets")} == wanted - deleted
    assert "pending_ids" not in again.final_state["bookmarks"]["tweets"]


def test_ids_queued_under_by_id_are_looked_up_after_a_switch_to_expansions(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=400, conversations=20)
    events = sandbox.visible_events()
    first_of_second_page = events[50]["id"]

    def kill(message: dict[str, Any]) -> None:
        if message["type"] == "RECORD" and message["record"].get("id") == first_of_second_page:
            raise Killed

    killed = run_tap(sandbox, clock=clock, on_message=kill, raise_errors=False, page_size=50)
    assert isinstance(killed.error, Killed)
    queued = {
        kind: killed.final_state["bookmarks"][kind]["pending_ids"] for kind in ("users", "tweets")
    }
    assert queued["users"] and queued["tweets"]
    sandbox.clear_log()

    rerun = run_tap(
        sandbox, clock=clock, state=killed.final_state, page_size=50, object_lookups="expansions"
    )

    for kind, endpoint in (("users", "users_lookup"), ("tweets", "tweets_lookup")):
        asked = [e["query"]["ids"].split(",") for e in endpoint_requests(sandbox, endpoint)]
        assert asked == [queued[kind]], kind
        assert "pending_ids" not in rerun.final_state["bookmarks"][kind]
        wanted = {key for key in referenced(events, kind) if not deleted(sandbox, kind, key)}
        written = [r["id"] for run in (killed, rerun) for r in run.records(kind)]
        assert set(written) == wanted, kind
    assert set(killed.ids()) | set(rerun.ids()) == {e["id"] for e in events}
    assert (
        f"tweets: looking up the {len(queued['tweets'])} id(s) an earlier run queued under "
        "object_lookups: by_id (object_lookups is now expansions)."
    ) in caplog.messages
