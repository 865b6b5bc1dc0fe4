"""X's data files: JSON assigned to a JavaScript global, read as a stream.

Each file is `window.YTD.direct_messages.part0 = [ ... ]` (the global's name
varies between archive generations), so the JSON starts after the first `=`.
`AssignmentReader` hands ijson the bytes after it, drops a trailing `;`,
hashes every byte it reads (the archive checksum comes for free) and keeps the
position, so a parse error names line and column. `conversation_items` then
yields one DM item at a time: memory stays at one message, however large the
file or the conversation.

Every byte is handed on once, so time grows with the file, never its square:
held-back whitespace (which might precede the trailing `;`) is handed on as
soon as it cannot, and a run of `;` and whitespace is never joined again per
chunk. No X DM is megabytes long, so a string, a number or a message item past
`MAX_VALUE_BYTES` is refused in one line before the parser buffers it
(`ValueGuard`): memory stays bounded whatever the file holds.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any, Protocol

import ijson  # type: ignore[import-untyped]

from tap_x_dm.archive.errors import ArchiveFormatError, one_line, unreadable

#: How far into a file the `=` may be (the longest global name is far shorter).
MAX_PREFIX = 4096
_TRAILING = b" \t\r\n;"
_SNIPPET = re.compile(r"^(\s*)(.*)$")
_MB = 1024 * 1024
#: The longest string or number read: a DM's text is at most 10,000 characters (60 KB
#: escaped), an id 20 digits. Past it, not an X file (and yajl's buffer would grow with it).
MAX_VALUE_BYTES = 1 * _MB
#: The longest message item: its text and every entity and reaction are far smaller.
MAX_ITEM_BYTES = 4 * _MB
#: How much of a conversation may be read before its id (X writes the id first).
MAX_WAITING_BYTES = 8 * _MB
#: How many bytes of `;` and whitespace may be held back before they must be the trailer.
MAX_HELD_BYTES = MAX_VALUE_BYTES
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
#: Bytes that end a number or literal token (JSON's punctuation, whitespace) become b"|",
#: every other byte b".", so one `rfind` finds where the last bare token began.
_TOKEN_ENDS = bytes(b"|"[0] if b in b'{}[],:" \t\r\n' else b"."[0] for b in range(256))


class ValueGuard:
    """Follows strings and bare tokens across chunks, at C speed per chunk.

    ijson's parser buffers a whole string or number before it reports it; one
    1 GB message would take a gigabyte (and, in yajl, time that grows with its
    square). Escapes are removed before counting quotes: an escaped quote ends nothing.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._in_string = False
        self._escaped = False  # the chunk ended in a backslash inside a string
        self._string_run = 0
        self._token_run = 0

    def check(self, data: bytes, offset: int) -> None:
        """Account for `data` (starting at file byte `offset`); raise past the limit."""
        text = data[1:] if self._escaped else data
        self._escaped = False
        if b"\\" in text:
            text = _ESCAPE.sub(b"", text)
            if text.endswith(b"\\"):
                self._escaped, text = True, text[:-1]
        quotes = text.count(b'"')
        if quotes:
            self._in_string ^= bool(quotes & 1)
            tail = len(text) - text.rfind(b'"') - 1
            self._string_run = tail if self._in_string else 0
        elif self._in_string:
            self._string_run += len(data)  # escapes count too: the parser keeps them
        ends = data.translate(_TOKEN_ENDS).rfind(b"|")
        self._token_run = self._token_run + len(data) if ends < 0 else len(data) - ends - 1
        if max(self._string_run, self._token_run) > MAX_VALUE_BYTES:
            msg = (
                f"{self._name}: a JSON value longer than {MAX_VALUE_BYTES // _MB} MB before "
                f"byte {offset + len(data)}: no X DM is that long; not an X data file"
            )
            raise ArchiveFormatError(msg)


class Hasher(Protocol):
    """What the checksum needs of a hashlib object."""

    def update(self, data: bytes, /) -> None:
        """Add bytes."""

    def hexdigest(self) -> str:
        """The digest so far, in hex."""


class AssignmentReader:
    """The JSON part of one data file, as a binary stream ijson can read.

    Args:
        raw: The file (or zip member) opened for binary reading.
        name: Its name in the archive, for error messages.
        hasher: Receives every byte of the file (prefix and `;` included).
    """

    def __init__(self, raw: IO[bytes], name: str, hasher: Hasher | None = None) -> None:
        self.name = name
        self._raw = raw
        self._hasher = hasher
        self._pending = b""
        #: `;` and whitespace held back from the end of what was read (maybe the trailer).
        self._held = bytearray()
        #: More than `MAX_HELD_BYTES` were held: only more `;` and whitespace may follow.
        self._spilled = False
        self._guard = ValueGuard(name)
        #: File offset where the message item being built began (set by `_items`).
        self.item_start: int | None = None
        #: File offset of the first item waiting for its conversation's id (`_items`).
        self.waiting_start = 0
        self._eof = False
        self._started = False
        self.offset = 0  # file offset of the next byte handed out
        self.lines = 0  # newlines before `offset`
        self.column = 0  # bytes since the last newline before `offset`
        self.last_chunk = b""
        self.last_start = (0, 0, 0)  # offset, lines and column where `last_chunk` starts

    def _read_raw(self, size: int) -> bytes:
        try:
            data = self._raw.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise unreadable(self.name, self._raw, exc) from exc
        if self._hasher is not None and data:
            self._hasher.update(data)
        return data

    def _skip_prefix(self) -> None:
        """Drop `window.YTD... =` (plain JSON, starting with `[` or `{`, is kept)."""
        self._started = True
        head = b""
        while True:
            chunk = self._read_raw(MAX_PREFIX)
            head += chunk
            stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if stripped[:1] in (b"[", b"{"):
                self._account(head[: len(head) - len(stripped)])
                self._pending = stripped
                return
            cut = head.find(b"=")
            if cut >= 0:
                self._account(head[: cut + 1])
                self._pending = head[cut + 1 :]
                return
            if not chunk or len(head) >= MAX_PREFIX:
                msg = (
                    f"{self.name}: not an X data file: no 'window.YTD... =' assignment "
                    f"in its first {MAX_PREFIX} bytes"
                )
                raise ArchiveFormatError(msg)

    def _account(self, data: bytes) -> None:
        self.offset += len(data)
        newlines = data.count(b"\n")
        self.lines += newlines
        self.column = len(data) - data.rfind(b"\n") - 1 if newlines else self.column + len(data)

    def read(self, size: int = -1) -> bytes:
        """The next bytes of JSON; b'' at the end (a trailing `;` is never handed out)."""
        if size == 0:
            return b""  # ijson probes with read(0) for bytes or text
        if not self._started:
            self._skip_prefix()
        want = size if size > 0 else 65536
        while True:
            if self._pending:
                data, self._pending = self._pending, b""
            elif self._eof:
                data = b""
            else:
                data = self._read_raw(want)
                self._eof = not data
            if not data:
                # The end: only whitespace and `;` can be held back, and they are dropped.
                self._account(bytes(self._held))
                self._held.clear()
                return b""
            if not self._held and not self._spilled and b";" not in data:
                return self._hand_out(data)  # nothing to hold back but whitespace: hand it on
            body = data.rstrip(_TRAILING)
            if body:
                if self._spilled:
                    at = self.offset + len(self._held) + len(data) - len(data.lstrip(_TRAILING))
                    msg = (
                        f"{self.name}: more than {MAX_HELD_BYTES // _MB} MB of ';' and "
                        f"whitespace, then more data at byte {at}: not an X data file"
                    )
                    raise ArchiveFormatError(msg)
                out = bytes(self._held) + body if self._held else body
                self._held = bytearray(data[len(body) :])
                return self._hand_out(out)
            self._held += data
            # Whitespace before the first held `;` cannot be the trailer's: hand it on now
            # rather than join it again with every chunk.
            cut = self._held.find(b";")
            cut = len(self._held) if cut < 0 else cut
            if cut:
                out = bytes(self._held[:cut])
                del self._held[:cut]
                return self._hand_out(out)
            if len(self._held) > MAX_HELD_BYTES:
                self._account(bytes(self._held))
                self._held.clear()
                self._spilled = True

    def _hand_out(self, data: bytes) -> bytes:
        """Check, place and count `data` before ijson gets it."""
        self._guard.check(data, self.offset)
        self.last_chunk = data
        self.last_start = (self.offset, self.lines, self.column)
        self._account(data)
        if self.item_start is not None and self.offset - self.item_start > MAX_ITEM_BYTES:
            msg = (
                f"{self.name}: a message item longer than {MAX_ITEM_BYTES / _MB:g} MB from "
                f"byte {self.item_start}: no X DM is that long; not an X data file"
            )
            raise ArchiveFormatError(msg)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever ijson left unread."""
        while self._read_raw(65536):
            pass

    def where(self, error: str) -> str:
        """`line L, column C (byte B)` of a yajl error, found by the context it prints."""
        start, lines, column = self.last_start
        offset = self._locate(error)
        if offset is None:
            return f"bytes {start}-{start + len(self.last_chunk)}"
        before = self.last_chunk[: offset - start]
        newline = before.rfind(b"\n")
        column = len(before) - newline - 1 if newline >= 0 else column + len(before)
        line = lines + before.count(b"\n") + 1
        return f"line {line}, column {column + 1} (byte {offset})"

    def _locate(self, error: str) -> int | None:
        """Find the error by the bytes yajl prints around it and the caret under them."""
        lines = error.split("\n")
        if len(lines) < 3 or "^" not in lines[2]:
            return None
        snippet_line, caret = lines[1], lines[2].index("^")
        indent, snippet = _SNIPPET.match(snippet_line).groups()  # type: ignore[union-attr]
        if not snippet.strip():
            return self.last_start[0] + len(self.last_chunk)
        printable = self.last_chunk.replace(b"\n", b" ").replace(b"\r", b" ")
        try:
            found = printable.find(snippet.encode("utf-8"))
        except UnicodeEncodeError:
            return None
        if found < 0:
            return None
        return self.last_start[0] + found + max(0, caret - len(indent))


def parse_error(reader: AssignmentReader, exc: Exception) -> ArchiveFormatError:
    """One line: file, where, and yajl's reason without the DM text it quotes."""
    text = str(exc)
    reason = text.split("\n", 1)[0].strip() or type(exc).__name__
    if reason.startswith(("b'", 'b"')):
        reason = "invalid UTF-8"
    return ArchiveFormatError(
        f"{reader.name}: malformed JSON at {reader.where(text)}: {one_line(reason, 120)}"
    )


def load_small(raw: IO[bytes], name: str, limit: int = 16 * 1024 * 1024) -> Any:
    """The JSON of a small file (manifest, account), parsed whole."""
    reader = AssignmentReader(raw, name)
    chunks: list[bytes] = []
    total = 0
    while chunk := reader.read(65536):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            msg = f"{name}: larger than {limit // (1024 * 1024)} MB, not an X manifest"
            raise ArchiveFormatError(msg)
    data = b"".join(chunks)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        position = ""
        if isinstance(exc, json.JSONDecodeError):
            prefix_lines = reader.lines - data.count(b"\n")
            position = f" at line {exc.lineno + prefix_lines}, column {exc.colno}"
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid UTF-8"
        raise ArchiveFormatError(f"{name}: malformed JSON{position}: {reason}") from exc


MESSAGES = "item.dmConversation.messages.item"
CONVERSATION_ID = "item.dmConversation.conversationId"


def conversation_items(reader: AssignmentReader) -> Iterator[tuple[str, dict[str, Any]]]:
    """`(conversation id, message item)` for every item of a DM file, in file order.

    Items normally follow their conversation's id; when an archive writes the
    id after the messages, that one conversation's items wait for it.
    """
    try:
        yield from _items(reader)
    except ijson.JSONError as exc:
        raise parse_error(reader, exc) from exc
    reader.drain()


def _items(reader: AssignmentReader) -> Iterator[tuple[str, dict[str, Any]]]:
    events = ijson.parse(reader, use_float=True)
    first = next(events, None)
    if first is None or first[:2] != ("", "start_array"):
        found = "nothing" if first is None else f"a JSON {first[1]}"
        msg = f"{reader.name}: expected a JSON array of conversations, found {found}"
        raise ArchiveFormatError(msg)
    conversation: str | None = None
    waiting: list[dict[str, Any]] = []
    builder: ijson.ObjectBuilder | None = None
    number = 0
    for prefix, event, value in events:
        if builder is not None:
            builder.event(event, value)
            if prefix == MESSAGES and event == "end_map":
                reader.item_start = None
                if conversation is None:
                    _wait_for_id(reader, waiting, builder.value, number)
                else:
                    yield conversation, builder.value
                builder = None
        elif prefix == MESSAGES:
            if event != "start_map":
                msg = f"{reader.name}: conversation {number}: a message item is a {event}"
                raise ArchiveFormatError(msg)
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
            reader.item_start = reader.offset
        elif prefix == CONVERSATION_ID:
            if event not in ("string", "number"):
                msg = f"{reader.name}: conversation {number}: conversationId is a {event}"
                raise ArchiveFormatError(msg)
            conversation = str(value)
            for item in waiting:
                yield conversation, item
            waiting = []
        elif prefix == "item" and event in ("start_map", "end_map"):
            if event == "start_map":
                number += 1
            elif waiting:
                msg = f"{reader.name}: conversation {number} has messages but no conversationId"
                raise ArchiveFormatError(msg)
            conversation = None


def _wait_for_id(
    reader: AssignmentReader, waiting: list[dict[str, Any]], item: dict[str, Any], number: int
) -> None:
    """Keep an item until its conversation's id comes, within `MAX_WAITING_BYTES` of file."""
    if not waiting:
        reader.waiting_start = reader.offset
    elif reader.offset - reader.waiting_start > MAX_WAITING_BYTES:
        msg = (
            f"{reader.name}: conversation {number} has more than {MAX_WAITING_BYTES / _MB:g} MB "
            "of messages before its conversationId: not an X data file"
        )
        raise ArchiveFormatError(msg)
    waiting.append(item)


def sha256() -> Hasher:
    """The checksum's hash."""
    return hashlib.sha256()
