"""Conversations built for the warehouse test, with the first-response times they must give."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

DAY_MS, TWEPOCH_MS = 86_400_000, 1288834974657
# Users of the built conversations, apart from the generated ones.
C1, C2, C3, C4, C5 = "3000000001", "3000000002", "3000000003", "3000000004", "3000000005"
GROUP = "1999999999999999001"
ARCHIVE_JOIN_ID = f"archive-join-{GROUP}-{C5}"


def snowflake(ms: int, seq: int) -> str:
    """X's id for an event at `ms` (a high sequence number, clear of the generated ids)."""
    return str(((ms - TWEPOCH_MS) << 22) | seq)


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


@dataclass
class Built:
    """The built conversations' events, and the first-response times they must give."""

    account: str
    one_to_one: str
    events: list[dict[str, Any]] = field(default_factory=list)
    #: inbound event id -> (reply event id, seconds), or (None, None) if unanswered.
    expected: dict[str, tuple[str | None, float | None]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, ms: int, sender: str | None, conv: str, **fields: Any) -> None:
        event = {
            "id": snowflake(ms, 4000 + len(self.events)),  # in the order added
            "event_type": fields.pop("event_type", "MessageCreate"),
            "dm_conversation_id": conv,
            "created_at": iso(ms),
            **fields,
        }
        if sender is not None:
            event["sender_id"] = sender
        if event["event_type"] == "MessageCreate":
            event.setdefault("text", f"message {name}")
        self.ids[name] = event["id"]
        self.events.append(event)


def build_conversations(account: str, now_ms: int) -> Built:
    """A one-to-one conversation (part of it older than 30 days) and a group, whole seconds."""
    one_to_one = f"{account}-{C1}" if int(account) < int(C1) else f"{C1}-{account}"
    built = Built(account=account, one_to_one=one_to_one)
    old = (now_ms - 40 * DAY_MS) // 1000 * 1000
    t = (now_ms - 2 * DAY_MS) // 1000 * 1000
    s = 1000  # one second
    o, g, a = one_to_one, GROUP, account
    built.add("o_old_in", old, C1, o)  # older than /2/dm_events serves: only the conversation
    built.add("o_old_out", old + 120 * s, a, o)  # endpoint has these two
    built.add("o1", t, C1, o)  # opens the conversation's turn...
    built.add("o2", t + 10 * s, C1, o)  # ... which goes on
    built.add("o3", t + 70 * s, a, o)  # the reply: 70 s
    built.add("o4", t + 80 * s, a, o)
    built.add("o5", t + 200 * s, C1, o)  # three messages in one second, told apart by id:
    built.add("o6", t + 200 * s, a, o)  # a turn answered at once,
    built.add("o5b", t + 200 * s, C1, o)  # and the next turn, opened in the same second
    built.add("o5c", t + 300 * s, a, o)
    built.add("o7", t + 1000 * s, C1, o)  # unanswered
    built.add("g_join", t, a, g, event_type="ParticipantsJoin", participant_ids=[C2, C3])
    built.add("g1", t + 30 * s, C2, g)  # any sender but the account is inbound
    built.add("g2", t + 35 * s, C3, g)
    built.add("g3", t + 95 * s, a, g)  # 65 s after g1
    built.add("g4", t + 100 * s, C3, g)
    built.add("g_leave", t + 150 * s, None, g, event_type="ParticipantsLeave",
              participant_ids=[C2])  # fmt: skip
    built.add("g5", t + 400 * s, a, g)  # 300 s after g4; the leave event is not a message
    built.add("g_join2", t + 500 * s, a, g, event_type="ParticipantsJoin", participant_ids=[C4])
    ids = built.ids
    built.expected = {
        ids["o_old_in"]: (ids["o_old_out"], 120.0),
        ids["o1"]: (ids["o3"], 70.0),
        ids["o5"]: (ids["o6"], 0.0),
        ids["o5b"]: (ids["o5c"], 100.0),
        ids["o7"]: (None, None),
        ids["g1"]: (ids["g3"], 65.0),
        ids["g4"]: (ids["g5"], 300.0),
    }
    return built
