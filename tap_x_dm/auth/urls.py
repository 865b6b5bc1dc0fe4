"""The one rule for where tokens may travel: https, or plain http to this machine only.

The sandbox listens on 127.0.0.1 over plain http; anything else would put
access and refresh tokens on the network in clear text.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

from tap_x_dm.errors import ConfigError

_INSECURE_ENV = "OAUTHLIB_INSECURE_TRANSPORT"


def is_loopback(host: str | None) -> bool:
    """Whether `host` is this machine (where plain http cannot leak a token)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def transport_problem(name: str, url: str, example: str) -> str | None:
    """One line saying why `url` (the setting `name`) may not carry tokens, or None."""
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return f"{name} must be an http(s) URL such as {example} (got {url!r})."
    try:
        _ = parts.port
    except ValueError:
        return f"{name} has a port that is not a number from 0 to 65535 (got {url!r})."
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return (
            f"{name} must use https; plain http is allowed only for 127.0.0.1/localhost "
            "(the sandbox), because tokens would travel in clear text."
        )
    return None


@contextlib.contextmanager
def loopback_http_allowed(url: str) -> Iterator[None]:
    """Let oauthlib use plain http for a loopback URL (the sandbox), and nothing else.

    oauthlib refuses http unless `OAUTHLIB_INSECURE_TRANSPORT` is set. It is
    set only for the duration of one call, only for a loopback URL, and put
    back afterwards; https URLs leave the environment untouched.

    Raises:
        ConfigError: for plain http to another host (settings are checked with
            `transport_problem` before the first request, so this is a last guard).
    """
    parts = urlsplit(url)
    if parts.scheme != "http":
        yield
        return
    if not is_loopback(parts.hostname):
        msg = f"{url} must use https; plain http is allowed only for 127.0.0.1/localhost."
        raise ConfigError(msg)
    previous = os.environ.get(_INSECURE_ENV)
    os.environ[_INSECURE_ENV] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_INSECURE_ENV, None)
        else:
            os.environ[_INSECURE_ENV] = previous
