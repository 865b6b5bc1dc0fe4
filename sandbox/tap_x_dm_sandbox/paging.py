"""Which events one list request answers, for each kind of pagination token.

`Pager` is `Dataset.page` with one request's filters bound, plus the upward walk a
`previous_token` needs; `select_page` applies the token kind and says which tokens
the answer carries. Three kinds: a cursor (the default), an offset, or a page number
multiplied by the *current* request's max_results. `CreatedAtOrder` and
`select_ordered_page` do the same for `order_by="created_at"`, over the request's
events sorted once.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Literal

from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.model import created_at_order_key
from tap_x_dm_sandbox.tokens import Cursor, Direction

#: What a NEXT token carries: a cursor (events below id N), an offset, or a page number.
TokenKind = Literal["cursor", "offset", "page"]


def _start(kind: TokenKind, cursor: Cursor | None, limit: int) -> int:
    """Return the first index an offset or page-number token asks for."""
    value = cursor.id if cursor is not None else 0
    return value * limit if kind == "page" else value


def _next_value(kind: TokenKind, cursor: Cursor | None, start: int, count: int) -> int:
    """Return what the next token carries: the next page number, or the next offset."""
    if kind == "page":
        return (cursor.id if cursor is not None else 0) + 1
    return start + count


@dataclass(frozen=True)
class PageSelection:
    """The ids of one page, newest first, and the anchors of its next/previous tokens."""

    ids: list[int]
    has_next: bool
    next_anchor: int | None
    previous_anchor: int | None
    previous_direction: Direction = Direction.PREVIOUS


class Pager:
    """`Dataset.page` with the filters of one request bound, plus the upward walk."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        viewer_id: str,
        conversation_id: str | None,
        min_ms: int | None,
        event_types: frozenset[str],
    ) -> None:
        self._dataset = dataset
        self._viewer = viewer_id
        self._conversation = conversation_id
        self._min_ms = min_ms
        self._types = event_types

    def __call__(self, below_id: int | None, limit: int) -> tuple[list[int], bool]:
        """Return up to `limit` ids strictly below `below_id`, newest first, and "more"."""
        return self._dataset.page(
            viewer_id=self._viewer,
            conversation_id=self._conversation,
            below_id=below_id,
            limit=limit,
            min_ms=self._min_ms,
            event_types=self._types,
        )

    def above(self, anchor: int, limit: int) -> list[int]:
        """Return the `limit` ids just above `anchor`, newest first (a `previous_token` page).

        The dataset only pages downward, so search for an upper bound whose page
        reaches the anchor: exponential steps, then bisection. Only clients that
        follow `previous_token` pay for this.
        """
        fetch = 2 * limit
        top = self(None, 1)[0]
        if not top or top[0] <= anchor:
            return []

        def probe(bound: int) -> list[int] | None:
            # Every id in (anchor, bound), or None when there are `fetch` or more.
            ids, more = self(bound, fetch)
            inside = [i for i in ids if i > anchor]
            return None if len(inside) == len(ids) and more else inside

        high = top[0] + 1
        found = probe(high)
        if found is not None:
            return found[-limit:]
        low, step = anchor + 1, 1 << 22  # one millisecond of snowflake ids
        while anchor + step < high:
            found = probe(anchor + step)
            if found is None:
                high = anchor + step
                break
            if len(found) >= limit:
                return found[-limit:]
            low, step = anchor + step, step * 2
        while high - low > 1:
            middle = (low + high) // 2
            found = probe(middle)
            if found is None:
                high = middle
            elif len(found) >= limit:
                return found[-limit:]
            else:
                low = middle
        return (probe(low) or [])[-limit:]


def select_page(
    page: Pager,
    cursor: Cursor | None,
    limit: int,
    *,
    kind: TokenKind,
    meta_only_last_page: bool,
) -> PageSelection:
    """Return the page a request with this token (None: the first page) gets."""
    if kind != "cursor" and (cursor is None or cursor.direction is Direction.NEXT):
        start = _start(kind, cursor, limit)
        window, has_next = page(None, start + limit)
        ids = window[start:]
        # An offset or a page number: arrivals between two requests shift later pages, and
        # a page number times a larger max_results than the first page's skips events.
        return PageSelection(ids, has_next, _next_value(kind, cursor, start, len(ids)), None)
    if cursor is None or cursor.direction is Direction.NEXT:
        below = cursor.id if cursor is not None else None
        ids, more = page(below, limit)
        has_next = more or (meta_only_last_page and len(ids) == limit)
        # After the first page, "previous" means the events above this page; an
        # empty page points back at the cursor itself (events >= it).
        previous_anchor = None
        if below is not None:
            previous_anchor = ids[0] if ids else below - 1
        return PageSelection(ids, has_next, ids[-1] if ids else None, previous_anchor)
    ids = page.above(cursor.id, limit)
    if ids:
        top = page(None, 1)[0]
        return PageSelection(
            ids,
            bool(page(ids[-1], 1)[0]),
            ids[-1],
            ids[0] if top and top[0] > ids[0] else None,
        )
    return PageSelection(ids, bool(page(cursor.id + 1, 1)[0]), cursor.id + 1, None)


class CreatedAtOrder:
    """Every event one request may see, newest created_at first (ties: a fixed shuffle)."""

    def __init__(self, page: Pager, dataset: Dataset) -> None:
        ids, _ = page(None, len(dataset) + 1)
        self._dataset = dataset
        self._ascending = sorted(map(self._key, ids))
        self.ids = [key[2] for key in reversed(self._ascending)]

    def _key(self, event_id: int) -> tuple[int, float, int]:
        dataset = self._dataset
        return created_at_order_key(dataset.created_ms(event_id), event_id, dataset.seed)

    def start_below(self, anchor: int) -> int:
        """Return the index (newest first) of the first event ordered after `anchor`."""
        return len(self._ascending) - bisect_left(self._ascending, self._key(anchor))

    def end_above(self, anchor: int, *, inclusive: bool) -> int:
        """Return the index just past the events ordered before `anchor` (and it, if asked)."""
        key = self._key(anchor)
        found = bisect_left if inclusive else bisect_right
        return len(self._ascending) - found(self._ascending, key)


def select_ordered_page(
    order: CreatedAtOrder,
    cursor: Cursor | None,
    limit: int,
    *,
    kind: TokenKind,
    meta_only_last_page: bool,
) -> PageSelection:
    """`select_page` for `order_by="created_at"`: the same tokens, over `order.ids`."""
    ids_all, total = order.ids, len(order.ids)
    if kind != "cursor" and (cursor is None or cursor.direction is Direction.NEXT):
        start = _start(kind, cursor, limit)
        ids = ids_all[start : start + limit]
        return PageSelection(
            ids, start + limit < total, _next_value(kind, cursor, start, len(ids)), None
        )
    if cursor is None or cursor.direction is Direction.NEXT:
        start = 0 if cursor is None else order.start_below(cursor.id)
        ids = ids_all[start : start + limit]
        has_next = start + limit < total or (meta_only_last_page and len(ids) == limit)
        if cursor is None:
            return PageSelection(ids, has_next, ids[-1] if ids else None, None)
        if ids:
            return PageSelection(ids, has_next, ids[-1], ids[0])
        return PageSelection(ids, False, None, cursor.id, Direction.PREVIOUS_INCLUSIVE)
    inclusive = cursor.direction is Direction.PREVIOUS_INCLUSIVE
    end = order.end_above(cursor.id, inclusive=inclusive)
    start = max(0, end - limit)
    ids = ids_all[start:end]
    if not ids:
        return PageSelection(ids, False, None, None)
    return PageSelection(ids, end < total, ids[-1], ids[0] if start > 0 else None)
