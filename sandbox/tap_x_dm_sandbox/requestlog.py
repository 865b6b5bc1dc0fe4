"""The request log: what the sandbox was asked and what it answered.

Tests assert on it (how many pages, which tokens, what was billed) and pipeline
developers tail it. It never holds credentials: headers and form bodies are not
logged and secret-looking query parameters are dropped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

#: Query parameters that may carry credentials (OAuth 1.0a in the query, codes, secrets).
_SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "code",
        "code_verifier",
        "token",
        "password",
    }
)


def public_query(query: Mapping[str, str]) -> dict[str, str]:
    """Return the query without parameters that could carry a credential."""
    return {
        key: value
        for key, value in query.items()
        if key not in _SECRET_KEYS and not key.startswith("oauth_")
    }


def iso_time(epoch: float) -> str:
    """Format epoch seconds as X does: UTC, milliseconds, `Z`."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class RequestLog:
    """JSON-lines entries kept in memory and, optionally, appended to a file."""

    def __init__(
        self, path: str | Path | None = None, *, echo: Callable[[str], None] | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._file: IO[str] | None = None
        self._echo = echo
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = Path(path).open("a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, entry: dict[str, Any]) -> None:
        """Record one answered (or dropped) request."""
        line = None
        if self._file is not None or self._echo is not None:
            line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._entries.append(entry)
            if self._file is not None and line is not None:
                self._file.write(line + "\n")
                self._file.flush()
        if self._echo is not None and line is not None:
            self._echo(line)

    def entries(self) -> list[dict[str, Any]]:
        """Return a snapshot of the entries, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget the in-memory entries (the file keeps its lines)."""
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        """Close the log file, if any."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
