"""The environment's proxy settings apply as requests would apply them, looked up once.

`XStream` resolves the proxy for `api_url` when the stream is built instead of on
every request (`client.XStream._resolve_proxies_once`); these tests pin that the
answer is the one requests gives per request, for the usual variables.
"""

from __future__ import annotations

import pytest
import requests
from requests.utils import resolve_proxies

from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock

PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.mark.parametrize(
    ("env", "api_url"),
    [
        ({}, "https://api.x.com"),
        ({"HTTPS_PROXY": "http://proxy.example:3128"}, "https://api.x.com"),
        ({"HTTP_PROXY": "http://proxy.example:3128"}, "https://api.x.com"),
        ({"HTTP_PROXY": "http://proxy.example:3128"}, "http://127.0.0.1:8080"),
        ({"ALL_PROXY": "socks5://proxy.example:1080"}, "https://api.x.com"),
        (
            {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "api.x.com"},
            "https://api.x.com",
        ),
        ({"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": ".x.com"}, "https://api.x.com"),
        ({"HTTPS_PROXY": "http://user:pw@proxy.example:3128"}, "https://api.x.com"),
    ],
)
def test_each_stream_uses_the_proxy_requests_would_pick_per_request(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], api_url: str
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    tap = TapXDM(
        config={"access_token": "unused", "api_url": api_url},
        state={"account": {"id": "944480690", "username": "FloodSocial"}},
        clock=ManualClock(),
    )
    for name in ("dm_events", "conversation_events"):
        stream = tap.streams[name]
        session = stream.requests_session
        assert session.trust_env is False
        for path in ("/2/dm_events", "/2/dm_conversations/with/906948460078698496/dm_events"):
            request = requests.Request("GET", f"{api_url}{path}", params={"max_results": 100})
            prepared = requests.Session().prepare_request(request)
            expected = resolve_proxies(prepared, {}, trust_env=True)
            assert resolve_proxies(prepared, dict(session.proxies), session.trust_env) == expected
