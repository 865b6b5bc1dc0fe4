"""Why an archive cannot be imported, in one line a scheduler log can show.

Every message names the archive (and the file inside it) so the user knows
which download to replace; none quotes DM text, which would leak private
messages into logs.
"""

from __future__ import annotations

import zipfile
from typing import IO

from tap_x_dm.errors import TapXDMError


class ArchiveError(TapXDMError):
    """The archive is missing, not an X archive, or lacks a file it needs."""


class ArchiveFormatError(ArchiveError):
    """A file of the archive is not the JavaScript-wrapped JSON X writes."""


class ArchiveAccountError(ArchiveError):
    """The archive belongs to another account than the one the caller imports for.

    Attributes:
        expected: The account id the caller expected.
        found: The account id the archive names.
    """

    def __init__(self, message: str, *, expected: str, found: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.found = found


def one_line(text: str, limit: int = 200) -> str:
    """Collapse whitespace and cut `text`, so a message stays on one line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def unreadable(name: str, raw: IO[bytes], exc: Exception) -> ArchiveFormatError:
    """One line for a file `raw` (named `name`) that zipfile or the disk could not hand on.

    zipfile inflates a zip member to the size its directory declares and no further,
    then checks its CRC-32: a member that inflates past its size (a crafted or damaged
    zip) fails that check, at that size.
    """
    if isinstance(exc, zipfile.BadZipFile) and str(exc).startswith("Bad CRC-32"):
        try:
            declared = raw.tell()
        except (OSError, ValueError):
            declared = None
        if declared is not None:
            return ArchiveFormatError(
                f"{name} inflates past the {declared} bytes the zip declares for it: the zip "
                "is damaged or crafted"
            )
    return ArchiveFormatError(f"{name}: cannot be read ({one_line(str(exc))})")
