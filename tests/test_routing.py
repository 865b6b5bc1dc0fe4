"""Quota routing: conversation partitions fed by the `/2/dm_events` pages a run reads anyway.

Every test compares a routed run with the same run on each conversation's own
endpoint (`conversation_routing: false`): the records and the partitions'
state must be the same; only the requests differ.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from singer_sdk import Stream

from tap_x_dm.ids_and_times import min_snowflake_at
from tap_x_dm.sync.passes import PassProgress, top_id_at
from tap_x_dm.sync.routing import ROUTING_STATE_KEY, ConversationRouter, feed_mark
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock, Sandbox
from tests import conftest
from tests.conftest import TapRun, dm_requests, run_tap

DAY_S = 86_400


def configured(sandbox: Sandbox, count: int) -> dict[str, list[str]]:
    """`count` conversations of the account: groups by id, one-to-ones by participant."""
    account = sandbox.account.id
    conversations = sandbox.dataset.conversations_of(account)
    groups = [c for c in conversations if "-" not in c][: count // 2]
    pairs = [c for c in conversations if "-" in c][: count - len(groups)]
    participants = [next(p for p in c.split("-") if p != account) for c in pairs]
    return {"dm_conversation_ids": groups, "participant_ids": participants}


def conversation_ids(settings: dict[str, list[str]], account: str) -> list[str]:
    pairs = ["-".join(sorted((p, account), key=int)) for p in settings["participant_ids"]]
    return [*settings["dm_conversation_ids"], *pairs]


def partitions(run: TapRun) -> dict[str, dict[str, Any]]:
    entries = run.final_state["bookmarks"]["conversation_events"]["partitions"]
    return {p["context"]["dm_conversation_id"]: p for p in entries}


def without_value(parts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        c: {k: v for k, v in p.items() if k != "replication_key_value"} for c, p in parts.items()
    }


def paths(sandbox: Sandbox) -> list[str]:
    return [entry["path"] for entry in dm_requests(sandbox)]


def test_an_incremental_run_costs_one_request_however_many_conversations(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 11)
    ids = conversation_ids(settings, sandbox.account.id)
    first = run_tap(sandbox, clock=clock, **settings)
    clock.advance(600)
    new = [
        *sandbox.add_events(2, conversation_id=ids[0]),
        *sandbox.add_events(1, conversation_id=ids[7]),
    ]
    other = next(c for c in sandbox.dataset.conversations_of(sandbox.account.id) if c not in ids)
    new_elsewhere = sandbox.add_events(1, conversation_id=other)
    state = copy.deepcopy(first.final_state)

    sandbox.clear_log()
    plain = run_tap(sandbox, clock=clock, state=state, conversation_routing=False, **settings)
    assert len(paths(sandbox)) == 12  # one per conversation, and dm_events'
    sandbox.clear_log()
    with caplog.at_level(logging.INFO):
        routed = run_tap(sandbox, clock=clock, state=state, **settings)

    assert paths(sandbox) == ["/2/dm_events"]
    assert "11 of 11 conversation(s) are read from the /2/dm_events pages" in caplog.text
    expected = sorted(int(e["id"]) for e in new)
    assert sorted(int(r["id"]) for r in routed.records("conversation_events")) == expected
    assert sorted(int(r["id"]) for r in plain.records("conversation_events")) == expected
    assert sorted(int(i) for i in routed.ids("dm_events")) == sorted(
        int(e["id"]) for e in [*new, *new_elsewhere]
    )
    assert partitions(routed) == partitions(plain)
    assert partitions(routed)[ids[0]]["replication_key_id"] == str(max(expected[:2], key=int))
    # X bills what the pages return: fewer events than the 11 first pages of the plain run.
    assert sum(1 for _ in routed.records("conversation_events")) == 3


def test_with_only_conversations_selected_a_hidden_pass_reads_dm_events(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 6)
    ids = conversation_ids(settings, sandbox.account.id)
    select = ["conversation_events"]
    first = run_tap(sandbox, clock=clock, select=select, **settings)
    clock.advance(600)
    new = sandbox.add_events(3, conversation_id=ids[2])
    state = copy.deepcopy(first.final_state)

    plain = run_tap(
        sandbox, clock=clock, state=state, select=select, conversation_routing=False, **settings
    )
    sandbox.clear_log()
    with caplog.at_level(logging.INFO):
        routed = run_tap(sandbox, clock=clock, state=state, select=select, **settings)

    assert paths(sandbox) == ["/2/dm_events"]
    assert "dm_events is not selected; reading the /2/dm_events pages" in caplog.text
    assert "bookmarks.conversation_events.via_dm_events" in caplog.text
    assert [int(r["id"]) for r in routed.records("conversation_events")] == sorted(
        (int(e["id"]) for e in new), reverse=True
    )
    assert routed.records("dm_events") == []
    assert partitions(routed) == partitions(plain)
    via = routed.final_state["bookmarks"]["conversation_events"]["via_dm_events"]
    assert set(via) == {"arrivals_per_week"}  # no pass in flight, no bookmark of its own
    assert via["arrivals_per_week"] > 0
    assert "dm_events" not in routed.final_state["bookmarks"]


def test_one_conversation_keeps_its_own_endpoint_when_that_is_cheaper(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 1)
    select = ["conversation_events"]
    first = run_tap(sandbox, clock=clock, select=select, **settings)
    clock.advance(600)
    sandbox.clear_log()
    with caplog.at_level(logging.INFO):
        second = run_tap(sandbox, clock=clock, state=first.final_state, select=select, **settings)
    assert "via_dm_events" not in second.final_state["bookmarks"]["conversation_events"]
    participant = settings["participant_ids"][0]
    assert paths(sandbox) == [f"/2/dm_conversations/with/{participant}/dm_events"]
    assert "1 conversation(s) use their own endpoint" in caplog.text


def test_a_partition_far_behind_dm_events_reads_its_own_endpoint(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 2)
    ids = conversation_ids(settings, sandbox.account.id)
    first = run_tap(sandbox, clock=clock, **settings)
    clock.advance(2 * DAY_S)
    early = sandbox.add_events(2, conversation_id=ids[0])
    only_dm = run_tap(sandbox, clock=clock, state=first.final_state, select=["dm_events"])
    clock.advance(600)
    new = sandbox.add_events(1, conversation_id=ids[1])
    sandbox.clear_log()
    third = run_tap(sandbox, clock=clock, state=only_dm.final_state, **settings)
    conversation_paths = [p for p in paths(sandbox) if p != "/2/dm_events"]
    assert len(conversation_paths) == 2  # both partitions are two days behind dm_events
    assert sorted(int(r["id"]) for r in third.records("conversation_events")) == sorted(
        int(e["id"]) for e in [*early, *new]
    )


def test_a_stopped_routed_pass_resumes_and_loads_every_event_once(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 4)
    ids = conversation_ids(settings, sandbox.account.id)
    first = run_tap(sandbox, clock=clock, **settings)
    clock.advance(600)
    new = [e for c in ids for e in sandbox.add_events(60, conversation_id=c)]
    state = copy.deepcopy(first.final_state)
    plain = run_tap(sandbox, clock=clock, state=state, conversation_routing=False, **settings)

    # A cap that affords about one page stops the run after it; the next run goes on.
    capped = run_tap(sandbox, clock=clock, state=state, max_cost_usd=5, **settings)
    saved = partitions(capped)
    dm_pass = capped.final_state["bookmarks"]["dm_events"]["pass"]
    mark = f"dm_events:{dm_pass['top_id']}:{dm_pass['cursor']}"  # the pass, and how far it read
    assert {p["pass"]["routed_by"] for p in saved.values()} == {mark}
    assert all(saved[c]["replication_key_id"] == partitions(first)[c]["replication_key_id"]
               for c in ids)  # fmt: skip
    rest = run_tap(sandbox, clock=clock, state=capped.final_state, **settings)

    loaded = [r["id"] for run in (capped, rest) for r in run.records("conversation_events")]
    assert len(loaded) == len(set(loaded)) == len(new)
    assert set(loaded) == {e["id"] for e in new}
    # The same bookmarks; `replication_key_value` aside: a pass resumed in a later run takes
    # its newest id's time, which X's whole-second `created_at` (another clock) may not equal.
    assert without_value(partitions(rest)) == without_value(partitions(plain))


def test_a_partition_left_out_of_one_run_of_the_pass_goes_on_with_its_own_endpoint(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    """Fed by a pass that stops, left out of its next run, configured again: nothing lost."""
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    groups = [c for c in sandbox.dataset.conversations_of(sandbox.account.id) if "-" not in c]
    a, b = groups[0], groups[1]
    # The caps below count pages at 2025's worst case ($0.04 an event, media $0.005 then).
    settings = {"dm_conversation_ids": [a], "prices_usd": {"media": 0.005}}
    first = run_tap(sandbox, clock=clock, **settings)
    clock.advance(600)
    added = []
    for _ in range(2):
        added += sandbox.add_events(100, conversation_id=a)
        clock.advance(60)
        sandbox.add_events(100, conversation_id=b)
        clock.advance(60)
    sandbox.add_events(1, conversation_id=b)
    clock.advance(60)
    one = run_tap(sandbox, clock=clock, state=first.final_state, max_cost_usd=5, **settings)
    # A small first page (read again at 100), then one page.
    assert one.final_state["bookmarks"]["dm_events"]["pass"]["emitted"] == 100
    two = run_tap(  # the pass goes on without the conversation
        sandbox, clock=clock, state=one.final_state, select=["dm_events"], max_cost_usd=1.5,
        **settings,
    )  # fmt: skip
    assert two.final_state["bookmarks"]["dm_events"]["pass"]["emitted"] == 200  # one page more
    three = run_tap(sandbox, clock=clock, state=two.final_state, **settings)
    clock.advance(600)
    four = run_tap(sandbox, clock=clock, state=three.final_state, **settings)
    loaded = [
        r["id"] for run in (one, two, three, four) for r in run.records("conversation_events")
    ]
    assert sorted(loaded, key=int) == sorted((e["id"] for e in added), key=int)


def test_a_routing_pass_left_in_flight_does_not_stop_routing(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 6)
    ids = conversation_ids(settings, sandbox.account.id)
    only = ["conversation_events"]
    first = run_tap(sandbox, clock=clock, select=only, **settings)
    clock.advance(600)
    for conversation in ids:
        sandbox.add_events(50, conversation_id=conversation)
    clock.advance(60)
    stopped = run_tap(
        sandbox, clock=clock, state=first.final_state, select=only, max_cost_usd=1.5, **settings
    )
    assert stopped.final_state["bookmarks"]["conversation_events"]["via_dm_events"]["pass"]
    clock.advance(600)
    both = run_tap(sandbox, clock=clock, state=stopped.final_state, **settings)  # completes all
    clock.advance(600)
    new = sandbox.add_events(3, conversation_id=ids[2])
    clock.advance(60)
    sandbox.clear_log()
    last = run_tap(sandbox, clock=clock, state=both.final_state, select=only, **settings)
    assert paths(sandbox) == ["/2/dm_events"]
    assert sorted(r["id"] for r in last.records("conversation_events")) == sorted(
        e["id"] for e in new
    )


def as_written_by_0_2(state: dict[str, Any]) -> dict[str, Any]:
    """`state` (version 4) as 0.2 wrote it: a pass in flight has pages, no `top_id`."""
    old = copy.deepcopy(state)
    old["version"] = 2
    for stream in old["bookmarks"].values():
        for entry in [stream, *stream.get("partitions", [])]:
            entry.pop("read_below_id", None)
            entry.pop("archive", None)
            if isinstance(entry.get("pass"), dict):
                entry["pass"]["pages"] = 1 if entry["pass"].pop("top_id", None) else 0
                entry["pass"].pop("routed_by", None)
    return old


def test_a_pass_of_0_2_resumed_claims_only_what_it_read(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    """Resumed, a pass from before `top_id` gets none: its first page was read long ago."""
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    groups = [c for c in sandbox.dataset.conversations_of(sandbox.account.id) if "-" not in c]
    c, d = groups[0], groups[1]
    settings = {"dm_conversation_ids": [c]}
    first = run_tap(sandbox, clock=clock, **settings)
    clock.advance(600)
    sandbox.add_events(250, conversation_id=c)
    clock.advance(60)
    own = run_tap(
        sandbox, clock=clock, state=first.final_state, conversation_routing=False,
        max_cost_usd=5, **settings,
    )  # fmt: skip
    assert own.final_state["bookmarks"]["conversation_events"]["partitions"][0]["pass"]["top_id"]
    clock.advance(600)
    late = sandbox.add_events(1, conversation_id=c)  # above the cursor of the pass in flight
    clock.advance(600)
    sandbox.add_events(150, conversation_id=d)  # more than a page after it
    clock.advance(60)
    sandbox.add_events(1, conversation_id=d)
    clock.advance(60)
    resumed = run_tap(sandbox, clock=clock, state=as_written_by_0_2(own.final_state), **settings)
    clock.advance(600)
    after = run_tap(sandbox, clock=clock, state=resumed.final_state, **settings)
    loaded = {r["id"] for run in (own, resumed, after) for r in run.records("conversation_events")}
    assert late[0]["id"] in loaded


def test_a_partition_completes_only_if_the_pass_read_below_what_it_had_not_read() -> None:
    """A pass that ended above a partition's `read_below_id` (its list ran out a day later,
    past the 30 days) leaves that partition to its own endpoint, progress kept."""
    from tap_x_dm.ids_and_times import TWEPOCH_MS
    from tap_x_dm.sync.passes import PassProgress
    from tap_x_dm.sync.routing import ConversationRouter

    day_ms = 86_400_000
    now = [1_796_000_000_000]

    def id_at(ms: int) -> str:
        return str((ms - TWEPOCH_MS) << 22)

    # dm_events last completed a pass 29 days ago; so did the old partition, a minute earlier.
    dm_state = {"replication_key_id": id_at(now[0] - 29 * day_ms + 600_000)}
    old = {
        "context": {"dm_conversation_id": "1"},
        "replication_key_id": id_at(now[0] - 29 * day_ms + 60_000),
    }
    fresh = {"context": {"dm_conversation_id": "2"},
             "replication_key_id": id_at(now[0] - 7_200_000)}  # fmt: skip
    old_bookmark = old["replication_key_id"]
    router = ConversationRouter(
        dm_events_state=lambda: dm_state,
        dm_events_selected=lambda: True,
        now_ms=lambda: now[0],
        start_ms=None,
        logger=logging.getLogger("test"),
    )
    types = ["MessageCreate"]
    router.plan({"1": old, "2": fresh}, event_types=types, page_size=100, own_state={},
                write=lambda row: None)  # fmt: skip
    assert router.routes("1") and router.routes("2")
    feeding = PassProgress(since_id=int(dm_state["replication_key_id"]), event_types=types)
    feed = router.begin("dm_events", feeding)
    assert feed.floor_id == int(old["replication_key_id"])
    event = {"id": id_at(now[0] - 5_400_000), "created_at": None, "dm_conversation_id": "2"}
    assert router.offer(event)  # the list ends here: above the old partition's floor
    now[0] += day_ms  # a long run: the old partition is now past the 30 days
    feed.completed()
    assert fresh["replication_key_id"] == event["id"] and "pass" not in fresh
    assert old["replication_key_id"] == old_bookmark and "pass" not in old  # left to its own
    assert "read_below_id" not in old  # endpoint


def test_top_id_trusts_x_s_date_when_the_tap_s_clock_runs_ahead(sandbox_factory: Any) -> None:
    """`read_below_id` never claims events X has not minted yet, whichever clock is behind."""
    from tap_x_dm.sync.passes import top_id_at

    x_clock = ManualClock(1_796_000_000.0)
    sandbox = sandbox_factory(clock=x_clock, rate_limit=10_000)
    group = next(c for c in sandbox.dataset.conversations_of(sandbox.account.id) if "-" not in c)
    ahead = ManualClock(x_clock.time() + 60)
    run = run_tap(sandbox, clock=ahead, dm_conversation_ids=[group])
    covered = int(partitions(run)[group]["read_below_id"])
    assert covered == top_id_at(int(x_clock.time()) * 1000)  # X's Date: whole seconds


class DmEventsFirst(TapXDM):
    """The tap with `dm_events` synced before `conversation_events` (not in name order)."""

    def load_streams(self) -> list[Stream]:
        return sorted(super().load_streams(), key=lambda stream: stream.name != "dm_events")


def test_routing_does_not_depend_on_the_order_the_sdk_syncs_streams_in(
    sandbox_factory: Any, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan is made in the run scope, before any stream syncs (issue 20)."""
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 6)
    ids = conversation_ids(settings, sandbox.account.id)
    state = run_tap(sandbox, clock=clock, **settings).final_state
    clock.advance(600)
    new = sorted(int(e["id"]) for e in sandbox.add_events(3, conversation_id=ids[1]))
    in_order = run_tap(sandbox, clock=clock, state=copy.deepcopy(state), **settings)
    sandbox.clear_log()
    monkeypatch.setattr(conftest, "TapXDM", DmEventsFirst)

    reordered = run_tap(sandbox, clock=clock, state=copy.deepcopy(state), **settings)

    assert reordered.tap is not None
    names = list(reordered.tap.streams)
    assert names.index("dm_events") < names.index("conversation_events")
    assert paths(sandbox) == ["/2/dm_events"]
    assert sorted(int(r["id"]) for r in reordered.records("conversation_events")) == new
    assert without_value(partitions(reordered)) == without_value(partitions(in_order))


def test_a_resumed_routing_pass_goes_on_with_its_cursor_at_its_page_size() -> None:
    """A first page sized from the arrival rate is for a new pass only: given to a resumed
    one, its cursor would be dropped (a small page is read again from the top) every run."""
    now = 1_796_000_000_000
    bookmark = min_snowflake_at(now - 3_600_000)
    saved = PassProgress(
        since_id=bookmark,
        event_types=["MessageCreate"],
        cursor="tok-page-2",
        top_id=top_id_at(now - 600_000),
        emitted=40,
    )
    via = {"pass": saved.to_state(), "arrivals_per_week": 50}
    routed = PassProgress(
        since_id=bookmark,
        event_types=["MessageCreate"],
        emitted=3,
        routed_by=feed_mark(ROUTING_STATE_KEY, saved),
    )
    partition = {
        "replication_key_id": str(bookmark),
        "read_below_id": str(min_snowflake_at(now - 1_800_000)),
        "pass": routed.to_state(),
    }
    router = ConversationRouter(
        dm_events_state=dict,
        dm_events_selected=lambda: False,
        now_ms=lambda: now,
        start_ms=None,
        logger=logging.getLogger("test"),
    )
    own = {ROUTING_STATE_KEY: via}
    router.plan(
        {"1-2": partition},
        event_types=["MessageCreate"],
        page_size=100,
        own_state=own,
        write=lambda event: None,
    )

    resumed = router.routing_input(own, "conversation_events via /2/dm_events", 100)

    assert resumed is not None and resumed.progress.cursor == "tok-page-2"
    assert resumed.first_page is None
