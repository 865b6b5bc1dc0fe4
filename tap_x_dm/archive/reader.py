"""Open an archive, check it whole, then stream its DM events.

`open_archive` does every check that needs no full read (the zip or folder,
`data/`, manifest, account, the DM files and their first bytes) before the
caller sees a record, so a wrong archive fails before anything is written.
`XArchive.records()` then reads the DM files one item at a time; its
`summary` (counts, time range, checksum) is set once the last record is out.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tap_x_dm.archive.container import Container, open_container
from tap_x_dm.archive.errors import ArchiveAccountError, ArchiveError, ArchiveFormatError
from tap_x_dm.archive.jsdata import AssignmentReader, Hasher, conversation_items, sha256
from tap_x_dm.archive.manifest import ArchiveAccount, DmFile, dm_files, read_account, read_manifest
from tap_x_dm.archive.records import ItemError, RecordMapper, Tally
from tap_x_dm.surrogates import RepairingStream

CHECKSUM_PREFIX = "sha256:"
#: Prefix of `XArchive.fingerprint`: a hash of the DM files' names and identities.
FINGERPRINT_PREFIX = "files:"


@dataclass(frozen=True)
class ArchiveSummary:
    """One complete reading of an archive: what it held, for a log line and for state.

    `oldest`/`newest` are the `created_at` of the first and last event emitted;
    `files` counts the DM files read, `parts` those of them that are `-partN`
    continuations; `other` counts item kinds this package does not know.
    """

    account: ArchiveAccount
    messages: int
    joins: int
    leaves: int
    reactions: int
    name_updates: int
    files: int
    parts: int
    oldest: str | None
    newest: str | None
    checksum: str
    other: dict[str, int] = field(default_factory=dict)
    #: Lone surrogate escapes (half of an emoji) replaced by U+FFFD (`tap_x_dm.surrogates`).
    lone_surrogates: int = 0

    @property
    def events(self) -> int:
        """Rows emitted: messages, joins and leaves."""
        return self.messages + self.joins + self.leaves

    def state(self) -> dict[str, Any]:
        """`{checksum, from, to}`, what the tap keeps to import an archive once."""
        return {"checksum": self.checksum, "from": self.oldest, "to": self.newest}

    def line(self) -> str:
        """The summary as the one log line the import writes."""
        user = f" @{self.account.username}" if self.account.username else ""
        others = "".join(f", {count} {kind}" for kind, count in sorted(self.other.items()))
        span = f"{self.oldest} to {self.newest}" if self.oldest else "no events"
        repaired = (
            f"; {self.lone_surrogates} lone surrogate(s) (half of an emoji) replaced by U+FFFD"
            if self.lone_surrogates
            else ""
        )
        return (
            f"X archive of account {self.account.id}{user}: {self.messages} messages, "
            f"{self.joins} joins, {self.leaves} leaves ({span}); not imported: "
            f"{self.reactions} reactions, {self.name_updates} conversation name updates"
            f"{others}; {self.files} DM files ({self.parts} extra parts){repaired}; "
            f"{self.checksum}"
        )


class XArchive:
    """An opened, checked X archive; use `open_archive` to get one."""

    def __init__(
        self, container: Container, account: ArchiveAccount, files: tuple[DmFile, ...]
    ) -> None:
        self._container = container
        self.label = container.label
        self.account = account
        self.files = files
        #: Set when `records()` (or `scan()`) has read every file.
        self.summary: ArchiveSummary | None = None

    def __enter__(self) -> XArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the zip file."""
        self._container.close()

    def _where(self, dm_file: DmFile) -> str:
        return f"X archive {self.label}: {dm_file.name}"

    def _frame(self, hasher: Hasher, dm_file: DmFile) -> None:
        """Name and size go into the checksum before each file's bytes."""
        hasher.update(f"{dm_file.name}\n{dm_file.size}\n".encode())

    def records(self) -> Iterator[dict[str, Any]]:
        """Every message, join and leave as a `dm_events` row, in file order.

        File order is one-to-one files then group files, by part; within a
        conversation X writes the newest item first. Each call reads afresh.

        Raises:
            ArchiveFormatError: A DM file is not X's JSON, or an item is malformed.
        """
        self.summary = None
        tally = Tally()
        mapper = RecordMapper(self.account.id, tally)
        hasher = sha256()
        lone_surrogates = 0
        for dm_file in self.files:
            where = self._where(dm_file)
            self._frame(hasher, dm_file)
            with self._container.open(dm_file.name) as raw:
                repairing = RepairingStream(raw, hasher)  # the checksum: the file's own bytes
                reader = AssignmentReader(t.cast("IO[bytes]", repairing), where)
                for conversation_id, item in conversation_items(reader):
                    try:
                        row = mapper.record(conversation_id, item)
                    except ItemError as exc:
                        msg = f"{where}: conversation {conversation_id[:40]}: {exc}"
                        raise ArchiveFormatError(msg) from exc
                    if row is not None:
                        yield row
                lone_surrogates += repairing.replaced
        self.summary = ArchiveSummary(
            account=self.account,
            messages=tally.messages,
            joins=tally.joins,
            leaves=tally.leaves,
            reactions=tally.reactions,
            name_updates=tally.name_updates,
            files=len(self.files),
            parts=sum(1 for dm_file in self.files if dm_file.part > 0),
            oldest=tally.oldest,
            newest=tally.newest,
            checksum=CHECKSUM_PREFIX + hasher.hexdigest(),
            other=dict(tally.other),
            lone_surrogates=lone_surrogates,
        )

    def scan(self) -> ArchiveSummary:
        """Read everything without keeping a record: the full check, and the summary."""
        for _ in self.records():
            pass
        assert self.summary is not None
        return self.summary

    def fingerprint(self) -> str:
        """The DM files' names and identities (sizes and CRCs, or mtimes): no content read.

        A scheduled run with an archive already imported knows it by this and skips
        `checksum`, which reads (and for a zip, decompresses) every DM file.
        """
        hasher = sha256()
        for dm_file in self.files:
            hasher.update(f"{dm_file.name}\n{self._container.identity(dm_file.name)}\n".encode())
        return FINGERPRINT_PREFIX + hasher.hexdigest()

    def checksum(self) -> str:
        """The DM content's checksum without parsing (the same value `summary` carries).

        sha256 over each DM file, by kind then part: its name, a newline, its size
        in bytes, a newline, then its bytes. A zip and its unpacked folder agree.
        """
        hasher = sha256()
        for dm_file in self.files:
            self._frame(hasher, dm_file)
            with self._container.open(dm_file.name) as raw:
                AssignmentReader(raw, self._where(dm_file), hasher).drain()
        return CHECKSUM_PREFIX + hasher.hexdigest()


def open_archive(path: str | Path, expected_account_id: str | None = None) -> XArchive:
    """Open the X archive at `path` (its zip or unpacked folder) and check it.

    Args:
        path: `archive_path`: the zip X sends, or the folder it unpacks to.
        expected_account_id: The account the caller imports for (`GET /2/users/me`);
            an archive of another account is refused.

    Raises:
        ArchiveError: Not a zip or folder, no `data/`, no account, a DM file missing.
        ArchiveFormatError: The manifest, account file or a DM file's start is malformed.
        ArchiveAccountError: The archive is another account's.
    """
    container = open_container(path)
    try:
        names = set(container.data_names())
        manifest = read_manifest(container, names)
        account = read_account(container, names, manifest)
        if expected_account_id is not None and account.id != str(expected_account_id):
            user = f" (@{account.username})" if account.username else ""
            msg = (
                f"X archive {container.label} is the archive of account {account.id}{user}, "
                f"not of account {expected_account_id} that this tap reads: "
                "import each account's own archive."
            )
            raise ArchiveAccountError(msg, expected=str(expected_account_id), found=account.id)
        archive = XArchive(container, account, dm_files(container, names, manifest))
        for dm_file in archive.files:
            _check_start(container, dm_file)
    except OSError as exc:
        container.close()
        msg = f"X archive {container.label} cannot be read: {exc.strerror or exc}"
        raise ArchiveError(msg) from exc
    except BaseException:
        container.close()
        raise
    return archive


def _check_start(container: Container, dm_file: DmFile) -> None:
    """The file must open as `... = [`: a wrong file fails before any record."""
    where = f"X archive {container.label}: {dm_file.name}"
    with container.open(dm_file.name) as raw:
        reader = AssignmentReader(raw, where)
        head = reader.read(64).lstrip()
        while not head and (chunk := reader.read(65536)):  # whitespace is handed on as read
            head = chunk.lstrip()
    if not head.startswith(b"["):
        found = repr(head[:1].decode("utf-8", "replace")) if head else "nothing"
        msg = f"{where}: expected a JSON array after '=', found {found}"
        raise ArchiveFormatError(msg)
