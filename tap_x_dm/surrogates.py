r"""Lone surrogates (half of an emoji) in X's text, replaced by U+FFFD before a row is written.

JSON may escape any UTF-16 code unit, so X can send `"\ud83d"` alone: a message
cut in the middle of an emoji carries one. Python decodes it to a lone surrogate,
which UTF-8 cannot encode: the record writer would fail on the same event run after
run, and PostgreSQL could not store it either. Each one becomes U+FFFD (the
replacement character), counted for one log line.

Nothing is done per record until encoding fails (`sdk_adapter.LineWriter` calls
`repaired` then). The archive's bytes are repaired as they are read
(`RepairingStream`): its JSON parser (yajl) would silently turn them into `?`.
"""

from __future__ import annotations

import re
import typing as t
from typing import IO, Any

if t.TYPE_CHECKING:  # the archive package is imported only when an archive is set
    from tap_x_dm.archive.jsdata import Hasher

_LONE = re.compile("[\ud800-\udfff]")
#: Every JSON escape, from its backslash (so `\\\\` is never taken for the start of one);
#: a high surrogate with the low one after it is a pair, kept.
_ESCAPE = re.compile(
    rb"\\(?:u(?P<high>[dD][89abAB][0-9a-fA-F]{2})(?P<low>\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|u(?P<lone_low>[dD][c-fC-F][0-9a-fA-F]{2})|.)",
    re.DOTALL,
)
_HIGH = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
_REPLACEMENT = rb"\ufffd"
#: A surrogate pair's escapes are 12 bytes: a read ending within them holds them back.
_PAIR_BYTES = 12


def repaired(value: Any) -> tuple[Any, int]:
    """`value` (a record: dicts, lists, strings) with each lone surrogate replaced; how many."""
    if isinstance(value, str):
        if not _LONE.search(value):
            return value, 0
        # Through UTF-16: a pair written as two code units joins; what is left alone is
        # replaced, one U+FFFD per code unit.
        fixed = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return fixed, fixed.count("\ufffd") - value.count("\ufffd")
    if isinstance(value, dict):
        total, out = 0, {}
        for key, item in value.items():
            new_key, in_key = repaired(key)
            out[new_key], in_item = repaired(item)
            total += in_key + in_item
        return out, total
    if isinstance(value, list):
        items = [repaired(item) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    return value, 0


class RepairingStream:
    r"""A binary JSON stream with each lone surrogate escape replaced by `\ufffd`.

    The replacement has the escape's length, so positions in parse errors stay
    right; an escape a read cuts in two is held back for the next read. `hasher`
    receives the file's own bytes, before any repair (the archive's checksum).
    """

    def __init__(self, raw: IO[bytes], hasher: Hasher | None = None) -> None:
        self._raw = raw
        self._hasher = hasher
        self._tail = b""
        #: Lone surrogates replaced so far.
        self.replaced = 0

    def read(self, size: int = -1) -> bytes:
        """The next bytes, repaired; b'' at the end."""
        while True:
            data = self._raw.read(size)
            if self._hasher is not None and data:
                self._hasher.update(data)
            if not data:
                data, self._tail = self._tail, b""
                return self._repair(data)
            if self._tail:
                data, self._tail = self._tail + data, b""
            cut = _escape_start(data)
            if cut < len(data):
                data, self._tail = data[:cut], data[cut:]
            if data:
                return self._repair(data)

    def tell(self) -> int:
        """How many bytes of the underlying file were read (for a zip member: inflated)."""
        return self._raw.tell()

    def _repair(self, data: bytes) -> bytes:
        if b"\\ud" not in data and b"\\uD" not in data:
            return data
        return _ESCAPE.sub(self._replace, data)

    def _replace(self, match: re.Match[bytes]) -> bytes:
        if match["lone_low"] or (match["high"] and not match["low"]):
            self.replaced += 1
            return _REPLACEMENT
        return match[0]


def _escape_start(data: bytes) -> int:
    """Where an escape that may go on in the next read starts (`len(data)` if none).

    From the first backslash of the last `_PAIR_BYTES` bytes (or of the high surrogate
    just before it, so a pair is never cut), back to the start of its run of
    backslashes: what follows a non-backslash is never inside an escape.
    """
    start = data.find(b"\\", max(0, len(data) - _PAIR_BYTES))
    if start < 0:
        return len(data)
    if _HIGH.fullmatch(data, max(0, start - 6), start):
        start -= 6
    while start > 0 and data[start - 1] == 0x5C:
        start -= 1
    return start
