"""XChat sync: Chat API requests against their minimum (`python -m bench --only chat`).

For each page order X might use, a sandbox with the XChat world (five conversations),
a first sync, then incremental runs with k new messages spread over two conversations,
and one with nothing new. The minimum is what an oracle that knows what is new would
ask: the inbox pages, and per conversation with new events ceil(new / page size) pages
(a first sync: every event). Chat events billed are counted afresh for each run (X
bills a same-day re-read once: an upper bound). The tap runs in-process on the
sandbox's clock.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable
from typing import Any

PAGE_SIZES = (100, 5)
NEW_MESSAGES = (0, 3, 40)
CHAT_STREAMS = ["chat_conversations", "chat_events"]


def _run(sb: Any, clock: Any, config: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    from bench.conversations import _catalog
    from bench.lookups import _LastState
    from tap_x_dm.tap import TapXDM

    writer = _LastState()
    TapXDM(
        config=config,
        state=state,
        catalog=_catalog(config, CHAT_STREAMS),
        message_writer=writer,
        clock=clock,
    ).sync_all()
    return writer.state


def _order(oldest_first: bool, page_size: int) -> list[list[str]]:
    """Rows of one page order and page size: first sync, then k new messages."""
    from tap_x_dm_sandbox import ManualClock, Sandbox, SandboxConfig

    clock = ManualClock(1_796_000_000)
    rows = []
    with Sandbox(SandboxConfig(chat_oldest_first=oldest_first), clock=clock) as sb:
        config = {
            "api_url": sb.base_url,
            "access_token": sb.access_token(),
            "run_lock_dir": tempfile.mkdtemp(prefix="tap-x-dm-bench-locks-"),
            "page_size": page_size,
        }
        conversations = [c.id for c in sb.xchat.conversations(sb.account.id)]
        sb.xchat.events(conversations[0])  # the crypto world is built before the clock moves
        sb.clear_log()
        sb.reset_billing()
        state = _run(sb, clock, config, {})
        events = {c: len(sb.xchat.events(c)) for c in conversations}
        minimum = 1 + sum(math.ceil(n / page_size) for n in events.values())
        rows.append(_row("first sync", sb, minimum, sum(events.values())))
        for k in NEW_MESSAGES:
            clock.advance(3_600)
            busy = conversations[1:3] if k else []
            for index, conversation in enumerate(busy):
                share = k // len(busy) + (index < k % len(busy))
                sb.xchat.add_messages(conversation, share)
            sb.clear_log()
            sb.reset_billing()
            state = _run(sb, clock, config, state)
            shares = [k // 2 + (i < k % 2) for i in range(len(busy))]
            minimum = 1 + sum(math.ceil(n / page_size) for n in shares)
            rows.append(_row(f"{k} new in {len(busy)} conversation(s)", sb, minimum, k))
    return rows


def _row(label: str, sb: Any, minimum: int, new: int) -> list[str]:
    chat = [e for e in sb.request_log if e["path"].startswith("/2/chat/")]
    return [label, str(len(chat)), str(minimum), f"{sb.billed.get('chat_events', 0)} / {new}"]


def chat_sync(out: Callable[[str], None], table: Callable[[list[list[str]]], None]) -> None:
    """Requests of XChat syncs against their minimum, in both page orders."""
    logging.disable(logging.WARNING)
    try:
        for page_size in PAGE_SIZES:
            for oldest_first in (False, True):
                order = "oldest first" if oldest_first else "newest first"
                out(f"### XChat sync, {order}, page_size {page_size}")
                out()
                header = ["run", "Chat API requests", "minimum", "chat events billed / new"]
                table([header, *_order(oldest_first, page_size)])
    finally:
        logging.disable(logging.NOTSET)
    out(
        "Newest first, an incremental read stops on the page that reaches the bookmark (one "
        "page more than the minimum when the new events fill whole pages); oldest first, it "
        "starts again on the last page it read (one page, and its events, more per "
        "conversation with new events). The inbox is read whole each run (100 a page, not "
        "billed). `bench/chat.py`."
    )
    out()
