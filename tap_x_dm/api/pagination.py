"""Cursor paging over X's lists that follow `meta.next_token` (the XChat inbox).

The DM event passes page themselves, one request at a time (`sync.pass_runner`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override


class NewestFirstPaginator(BaseAPIPaginator[str | None]):
    """Follow `meta.next_token` until the end, or until the caller has seen enough.

    `reached_floor` is asked after every page. A page without `next_token` ends the
    list, also when it carries no `data` (X sometimes ends with a meta-only page).
    """

    def __init__(
        self,
        reached_floor: Callable[[], bool],
        *,
        payload: Callable[[requests.Response], Any] = requests.Response.json,
    ) -> None:
        super().__init__(None)
        self._reached_floor = reached_floor
        self._payload = payload  # the stream's parsed page, so a page is parsed once

    @override
    def get_next(self, response: requests.Response) -> str | None:
        """Return `meta.next_token`, or None on the last page."""
        meta = self._payload(response).get("meta") or {}
        token = meta.get("next_token")
        return str(token) if token else None

    @override
    def has_more(self, response: requests.Response) -> bool:
        """Continue only while the pass needs older events."""
        return not self._reached_floor()

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """Follow an empty page that still carries a `next_token`."""
        return not self._reached_floor() and self.get_next(response) is not None
