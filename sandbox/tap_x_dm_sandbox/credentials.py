"""What every authentication path shares: clients, scopes, grants and derived secrets.

Credentials derive from the seed (HMAC), so a sandbox restarted with the same seed
accepts the same demo tokens and OAuth 1.0a keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

PUBLIC_CLIENT_ID: Final = "sandbox-public-client"
CONFIDENTIAL_CLIENT_ID: Final = "sandbox-confidential-client"

#: What the official DM samples request; also the demo tokens' scopes.
DEFAULT_SCOPES: Final[tuple[str, ...]] = ("dm.read", "tweet.read", "users.read", "offline.access")

#: OAuth 2.0 scopes X knows; anything else is refused by the consent page.
X_SCOPES: Final = frozenset(
    {
        "tweet.read",
        "tweet.write",
        "tweet.moderate.write",
        "users.email",
        "users.read",
        "follows.read",
        "follows.write",
        "offline.access",
        "space.read",
        "mute.read",
        "mute.write",
        "like.read",
        "like.write",
        "list.read",
        "list.write",
        "block.read",
        "block.write",
        "bookmark.read",
        "bookmark.write",
        "dm.read",
        "dm.write",
        "media.write",
    }
)

ALNUM = string.ascii_letters + string.digits
LOOPBACK_NAMES = frozenset({"localhost"})
UNRESERVED = frozenset(ALNUM + "-._~")
B64URL = frozenset(ALNUM + "-_")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user acting through OAuth 2.0 or OAuth 1.0a."""

    user_id: str
    scopes: frozenset[str]
    kind: str  # "oauth2" | "oauth1"


class AuthProblem(Exception):  # noqa: N818  (name fixed by the sandbox design)
    """Refusal to serve a request, with the status and JSON body X sends."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {body.get('title', body)}")
        self.status = status
        self.body: dict[str, Any] = dict(body)


@dataclass(frozen=True)
class AccessGrant:
    """What an access token stands for."""

    user_id: str
    scopes: frozenset[str]
    client_id: str
    expires_at: float | None  # None: demo token, never expires on its own


@dataclass(frozen=True)
class RefreshGrant:
    """What a (single-use) refresh token stands for."""

    user_id: str
    scopes: tuple[str, ...]
    client_id: str
    ttl: float


@dataclass(frozen=True)
class AuthCode:
    """An authorization code waiting for its exchange, with its PKCE challenge."""

    user_id: str
    scopes: tuple[str, ...]
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    expires_at: float


def derive_bytes(seed: int, label: str, n: int) -> bytes:
    """Stable pseudo-random bytes, so credentials survive a sandbox restart."""
    key = f"tap-x-dm-sandbox/{seed}".encode()
    out = b""
    counter = 0
    while len(out) < n:
        out += hmac.new(key, f"{label}/{counter}".encode(), hashlib.sha256).digest()
        counter += 1
    return out[:n]


def derive_alnum(seed: int, label: str, n: int) -> str:
    """Return `n` stable alphanumeric characters (keys and secrets in X's alphabet)."""
    return "".join(ALNUM[b % len(ALNUM)] for b in derive_bytes(seed, label, n))


def oauth_error(error: str, description: str) -> dict[str, Any]:
    """Return the token endpoint's error body (RFC 6749 5.2, X's wording)."""
    return {"error": error, "error_description": description}


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that also works for `email.message.Message`."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def s256_challenge(verifier: str) -> str:
    """BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) without padding (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    """Tell whether the verifier answers the code's challenge (RFC 7636 4.6)."""
    if not verifier or not set(verifier) <= UNRESERVED:
        return False
    expected = s256_challenge(verifier) if method == "S256" else verifier
    return hmac.compare_digest(expected, challenge)
