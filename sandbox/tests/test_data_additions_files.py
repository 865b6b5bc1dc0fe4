"""Events added while running, and datasets loaded from JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from data_support import (
    NOW_MS,
    brute_force,
    every_event,
    page_all,
)
from tap_x_dm_sandbox.data import (
    DAY_MS,
    Dataset,
    SandboxUser,
    iso_ms,
    parse_iso_ms,
    snowflake,
)

# -- live additions ----------------------------------------------------------------


def test_add_events_on_top(all_events: list[dict[str, Any]]) -> None:
    ds = Dataset.generate(seed=7, now_ms=NOW_MS)  # a fresh copy: we mutate it
    account = ds.users[0].id
    before = page_all(ds, account)  # builds the account's index first
    customer = ds.users[1].id
    page_all(ds, customer)
    old_max = ds.max_id()
    added = ds.add_events(3, now_ms=NOW_MS + 5_000)
    assert [e["created_at"] for e in added] == [iso_ms(NOW_MS + 5_000)] * 3
    new_ids = [int(e["id"]) for e in added]
    assert new_ids == [snowflake(NOW_MS + 5_000, s) for s in range(3)]
    assert new_ids[0] > old_max
    assert ds.max_id() == new_ids[-1]
    assert len(ds) == 6003
    conv_id = added[0]["dm_conversation_id"]
    members = ds.conversation_members(conv_id)
    assert members is not None
    assert account in members
    assert all(e["sender_id"] in members for e in added)
    assert all(e["text"] for e in added)
    assert all(ds.event(i) == e for i, e in zip(new_ids, added, strict=True))
    after = page_all(ds, account, limit=2)
    assert after == sorted(new_ids, reverse=True) + before
    assert page_all(ds, account, conversation_id=conv_id)[:3] == sorted(new_ids, reverse=True)
    # A clock behind the newest event: same millisecond, next sequence numbers.
    late = ds.add_events(2, now_ms=NOW_MS - DAY_MS, text="still there?")
    assert [int(e["id"]) for e in late] == [new_ids[-1] + 1, new_ids[-1] + 2]
    assert all(e["created_at"] == iso_ms(NOW_MS + 5_000) for e in late)
    assert all(e["text"] == "still there?" for e in late)
    # Customers' conversations: invisible to the account, visible to both customers.
    pair = next(c for c in ds.conversation_ids() if "-" in c and account not in c.split("-"))
    low, high = pair.split("-")
    page_all(ds, low)
    (private,) = ds.add_events(1, now_ms=NOW_MS + 9_000, conversation_id=pair, sender_id=high)
    assert private["sender_id"] == high
    assert page_all(ds, low)[0] == int(private["id"])
    assert page_all(ds, high)[0] == int(private["id"])
    assert int(private["id"]) not in page_all(ds, account)
    for viewer in (account, customer, low, high):
        assert page_all(ds, viewer, limit=13) == brute_force(ds, every_event(ds), viewer)
    assert ds.page(
        viewer_id=account,
        conversation_id=None,
        below_id=None,
        limit=1,
        min_ms=NOW_MS + 1,
        event_types=frozenset({"MessageCreate"}),
    ) == ([int(late[-1]["id"])], True)
    with pytest.raises(ValueError):
        ds.add_events(1, now_ms=NOW_MS, conversation_id="1-2")
    with pytest.raises(ValueError):
        ds.add_events(1, now_ms=NOW_MS, conversation_id=pair, sender_id=account)
    with pytest.raises(ValueError):
        ds.add_events(-1, now_ms=NOW_MS)
    assert ds.add_events(0, now_ms=NOW_MS) == []


# -- JSON files ------------------------------------------------------------------


def write_json(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def small_file() -> dict[str, Any]:
    a, b, c, lone = "944480690", "906948460078698496", "17200003", "42"
    group = "1578398451921985538"
    return {
        "users": [
            {"id": a, "username": "FloodSocial", "name": "API Demos", "description": "demos"},
            {"id": b, "username": "SnowBotDev", "name": "the SnowBot"},
            {"id": c, "username": "someone", "name": "Some One", "verified": False},
            {"id": lone, "username": "lonely", "name": "Nobody Writes"},
        ],
        "conversations": [{"id": group, "participant_ids": [c, a]}],
        "events": [
            {
                "id": "1585047616894574596",
                "sender_id": a,
                "text": "Hello, just you!",
                "created_at": "2022-10-25T23:16:15.000Z",
                "event_type": "MessageCreate",
                "dm_conversation_id": f"{a}-{b}",
            },
            {
                "id": "1581048670673260549",
                "sender_id": a,
                "text": "Simple Tweet link: https://t.co/IYFbRIdXHg",
                "referenced_tweets": [{"id": "1578900353814519810"}],
                "created_at": "2022-10-14T22:25:52.000Z",
                "event_type": "MessageCreate",
                "dm_conversation_id": f"{a}-{b}",
            },
            {
                "id": "1582835469712138240",
                "event_type": "ParticipantsJoin",
                "participant_ids": [b],
                "sender_id": c,
                "dm_conversation_id": group,
                "created_at": "2022-10-19T20:45:58.000Z",
            },
            {
                "id": "1582838535115067392",
                "event_type": "ParticipantsLeave",
                "participant_ids": [b],
                "dm_conversation_id": group,
            },
            {
                "id": "1580705121553420292",
                "event_type": "MessageCreate",
                "text": "photo",
                "attachments": {"media_keys": ["3_1580705121553420000"]},
                "dm_conversation_id": f"{a}-{b}",
            },
        ],
        "tweets": [
            {
                "id": "1578900353814519810",
                "text": "Happy Water Year",
                "author_id": a,
                "edit_history_tweet_ids": ["1578900353814519810"],
            }
        ],
        "media": [{"media_key": "3_1580705121553420000", "type": "photo", "width": 10}],
    }


def test_from_json_file(tmp_path: Path) -> None:
    data = small_file()
    ds = Dataset.from_json_file(write_json(tmp_path, data))
    a, b, c = "944480690", "906948460078698496", "17200003"
    assert len(ds) == 5
    assert ds.users[0].id == a
    assert ds.users[0].as_json(("description", "created_at")) == {
        "id": a,
        "name": "API Demos",
        "username": "FloodSocial",
        "description": "demos",
    }
    assert ds.empty_user_id() == "42"
    assert ds.conversation_members("1578398451921985538") == frozenset({a, b, c})
    assert ds.conversation_members(f"{a}-{b}") == frozenset({a, b})
    assert set(ds.conversations_of(b)) == {f"{a}-{b}", "1578398451921985538"}
    # Events come back exactly as given.
    for event in data["events"]:
        assert ds.event(int(event["id"])) == event
    # Newest first, by id.
    ids = page_all(ds, b, limit=2)
    assert ids == sorted((int(e["id"]) for e in data["events"]), reverse=True)
    assert page_all(ds, a, conversation_id="1578398451921985538") == [
        1582838535115067392,
        1582835469712138240,
    ]
    assert page_all(ds, a, types=frozenset({"ParticipantsLeave"})) == [1582838535115067392]
    # min_ms uses created_at, or the id's time when created_at is missing.
    assert page_all(ds, b, min_ms=parse_iso_ms("2022-10-19T20:00:00.000Z")) == [
        1585047616894574596,
        1582838535115067392,
        1582835469712138240,
    ]
    tweet = ds.tweet("1578900353814519810")
    assert tweet is not None
    assert tweet["text"] == "Happy Water Year"
    assert ds.tweet("1578900353814519811") is None
    assert ds.media("3_1580705121553420000") == {
        "media_key": "3_1580705121553420000",
        "type": "photo",
        "width": 10,
    }
    # Live additions on a loaded file.
    (added,) = ds.add_events(1, now_ms=parse_iso_ms("2026-01-01T00:00:00.000Z"))
    assert added["created_at"] == "2026-01-01T00:00:00.000Z"
    assert added["dm_conversation_id"] == f"{a}-{b}"
    assert added["sender_id"] == b  # the other side writes in
    assert page_all(ds, a)[0] == int(added["id"])
    assert page_all(ds, a, min_ms=parse_iso_ms("2025-12-31T00:00:00.000Z")) == [int(added["id"])]


def test_from_json_created_at_out_of_id_order(tmp_path: Path) -> None:
    data = small_file()
    data["events"][0]["created_at"] = "2020-01-01T00:00:00.000Z"  # newest id, oldest time
    ds = Dataset.from_json_file(write_json(tmp_path, data))
    min_ms = parse_iso_ms("2022-10-14T00:00:00.000Z")
    assert page_all(ds, "906948460078698496", min_ms=min_ms, limit=1) == [
        1582838535115067392,
        1582835469712138240,
        1581048670673260549,
    ]


def test_from_json_rejects_bad_files(tmp_path: Path) -> None:
    data = small_file()
    data["events"].append(dict(data["events"][0]))
    with pytest.raises(ValueError, match="duplicate"):
        Dataset.from_json_file(write_json(tmp_path, data))
    data = small_file()
    del data["events"][0]["dm_conversation_id"]
    with pytest.raises(ValueError):
        Dataset.from_json_file(write_json(tmp_path, data))
    with pytest.raises(ValueError):
        Dataset.from_json_file(write_json(tmp_path, {"users": [], "events": []}))
    with pytest.raises(ValueError):
        SandboxUser.from_json({"id": "1", "name": "x"})


def test_generated_round_trips_through_a_file(tmp_path: Path) -> None:
    original = Dataset.generate(seed=9, now_ms=NOW_MS, events=1500, conversations=40, users=15)
    loaded = Dataset.from_json_file(write_json(tmp_path, original.to_json()))
    assert len(loaded) == len(original)
    assert [u.id for u in loaded.users] == [u.id for u in original.users]
    assert loaded.users[3] == original.users[3]
    assert loaded.empty_user_id() == original.empty_user_id()
    for user in original.users[:5]:
        assert page_all(loaded, user.id, limit=33) == page_all(original, user.id, limit=33)
        min_ms = NOW_MS - 30 * DAY_MS
        recent = page_all(original, user.id, min_ms=min_ms)
        assert page_all(loaded, user.id, min_ms=min_ms) == recent
    for event_id in page_all(original, original.users[0].id)[:300]:
        assert loaded.event(event_id) == original.event(event_id)
        event = loaded.event(event_id)
        assert event is not None
        for ref in event.get("referenced_tweets", []):
            assert loaded.tweet(ref["id"]) == original.tweet(ref["id"])
