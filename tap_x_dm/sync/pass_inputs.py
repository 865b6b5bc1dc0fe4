"""What the pass runner (`tap_x_dm.sync.pass_runner`) is given: one pass, and whom it feeds.

The runner has no flags: what differs between passes is said here, by the kind
of pass and by its `Feed` (built by `tap_x_dm.sync.routing` for the conversation
partitions an account-wide pass reads for).
"""

from __future__ import annotations

import enum
import typing as t
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

if t.TYPE_CHECKING:
    from tap_x_dm.sync.passes import PassProgress


class PassKind(enum.Enum):
    """What a pass is for."""

    #: A stream's or partition's own pass, from its bookmark up: it moves the bookmark.
    MAIN = "main"
    #: Event types added since the bookmark, read up to it once (`PassRunner.sync`).
    CATCH_UP = "catch-up"
    #: `conversation_events` over `/2/dm_events`: yields only what its partitions take,
    #: keeps no bookmark (`tap_x_dm.sync.routing`).
    ROUTING = "routing"


@dataclass
class Feed:
    """What an account-wide pass does for the partitions it feeds.

    Built by `tap_x_dm.sync.routing.ConversationRouter.begin`; the runner calls
    each hook at its point of the pass. A pass that feeds nothing has no `Feed`
    (`PassInput.feed` is None), so it makes no call per event or page for it.
    """

    #: Read at least down to this id (lower than the pass's own bookmark).
    floor_id: int | None
    #: Called with every event the pass reads, before the pass decides whether it is new;
    #: True when a partition takes it.
    offer: Callable[[Mapping[str, Any]], bool]
    #: Called after every page, before its STATE: the partitions' progress goes into state.
    save: Callable[[], None]
    #: Called once the pass completed.
    completed: Callable[[], None]
    #: Called when the pass ends, completed or not.
    end: Callable[[], None]


@dataclass
class PassInput:
    """One pass to run: what it is for, where it keeps its place, whom it feeds."""

    kind: PassKind
    #: The pass's name in log lines (`dm_events`, `conversation_events[<id>]`...).
    label: str
    #: The state its progress is saved in and its bookmark moved in.
    state: dict[str, Any]
    progress: PassProgress
    #: `max_results` of its first request, when smaller than its page size.
    first_page: int | None = None
    #: The partitions it feeds, if any.
    feed: Feed | None = None
