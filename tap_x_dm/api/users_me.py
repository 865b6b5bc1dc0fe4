"""`GET /2/users/me`: which X account the run's credential is (asked once per state, ever)."""

from __future__ import annotations

import typing as t
from typing import Any

from typing_extensions import override

from tap_x_dm.api.client import XStream
from tap_x_dm.errors import XAPIError

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class AuthenticatedUserStream(XStream):
    """`GET /2/users/me`: a helper stream (not in the catalog) that tells the run its account."""

    name = "users_me"
    path = "/2/users/me"
    schema_key = "User"
    data_kind = "users"

    @override
    def get_new_paginator(self) -> None:
        """One object, one page."""

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """Only what the account needs."""
        return {"user.fields": "id,name,username"}

    def me(self) -> dict[str, Any]:
        """The authenticated user (`id`, `name`, `username`)."""
        for user in self.request_records(None):
            return user
        msg = "GET /2/users/me answered without a user (no `data`)"
        raise XAPIError(msg)
