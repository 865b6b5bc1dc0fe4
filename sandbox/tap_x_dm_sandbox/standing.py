"""Accounts X no longer shows in full: suspended users and protected accounts' posts.

A lookup or an expansion that meets one answers a partial error beside `data`, in X's
words (CHANGES-2026.md §3): a suspended user is `title: "Forbidden"` ("User has been
suspended: [id]."), a protected account's post `title: "Authorization Error"` (type
`not-authorized-for-resource`). Errors about expanded objects carry `section: "includes"`.
A protected user is still returned by a user lookup (X shows the profile), and the
author sees their own posts. Nobody is suspended or protected unless a test, a flag or
the events file (`"suspended": true`) says so, so the default inbox answers as before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from tap_x_dm_sandbox import errors


class Standing:
    """The suspended users and protected accounts of one sandbox; changeable at run time."""

    def __init__(self, *, suspended: Iterable[str] = (), protected: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self.suspended: set[str] = {str(u) for u in suspended}
        self.protected: set[str] = {str(u) for u in protected}

    def suspend(self, user_id: str) -> None:
        """Suspend a user: lookups and expansions answer `Forbidden` for them."""
        with self._lock:
            self.suspended.add(str(user_id))

    def protect(self, user_id: str) -> None:
        """Protect an account: its posts answer `Authorization Error` to anyone else."""
        with self._lock:
            self.protected.add(str(user_id))

    def user_error(
        self, user_id: str, *, parameter: str, section: str | None = None
    ) -> dict[str, Any] | None:
        """Return the partial error for a user X will not show, or None."""
        if user_id in self.suspended:
            return errors.suspended_user(parameter=parameter, value=user_id, section=section)
        return None

    def post_error(
        self,
        post: Mapping[str, Any],
        *,
        viewer_id: str | None,
        parameter: str,
        section: str | None = None,
    ) -> dict[str, Any] | None:
        """Return the partial error for a post X will not show this viewer, or None."""
        author = str(post.get("author_id") or "")
        hidden = author in self.protected or author in self.suspended
        if author and author != viewer_id and hidden:
            return errors.not_authorized(
                resource_type="tweet", parameter=parameter, value=str(post["id"]), section=section
            )
        return None
