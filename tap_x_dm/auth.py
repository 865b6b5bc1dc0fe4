"""The run's one authenticator: signs every request and feeds the rate budget.

The Tap owns a single instance shared by every stream and partition (not a
per-stream property, not a process-wide singleton), so all requests of a run
draw on one budget and, once refresh tokens arrive, one token chain.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from tap_x_dm.ratelimit import RateBudget, endpoint_of


class BearerToken(AuthBase):
    """OAuth 2.0 user-context access token sent as `Authorization: Bearer`."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the bearer header."""
        request.headers["Authorization"] = f"Bearer {self._access_token}"
        return request

    def __repr__(self) -> str:
        return "BearerToken(<redacted>)"


class XAuthenticator(AuthBase):
    """Waits for the rate budget, signs the request, learns from the response.

    The SDK applies an authenticator twice per request (when preparing and when
    sending); both steps here are idempotent, and the response hook is
    registered once.
    """

    def __init__(self, signer: AuthBase, budget: RateBudget) -> None:
        self._signer = signer
        self.budget = budget

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Wait if the window is spent, then sign and watch the response."""
        self.budget.before_request(self._endpoint(request))
        request = self._signer(request)
        hooks = request.hooks.setdefault("response", [])
        if self._observe not in hooks:
            hooks.append(self._observe)
        return request

    @staticmethod
    def _endpoint(request: requests.PreparedRequest) -> str:
        return endpoint_of(urlsplit(request.url or "").path)

    def _observe(self, response: requests.Response, **_: object) -> requests.Response:
        self.budget.observe(self._endpoint(response.request), response.headers)
        return response

    def __repr__(self) -> str:
        return f"XAuthenticator({self._signer!r})"
