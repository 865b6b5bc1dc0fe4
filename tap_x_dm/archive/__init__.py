"""Read an account's X archive ("Download your data") into `dm_events` rows.

`/2/dm_events` serves 30 days; the archive holds the account's whole DM
history. This package only reads: the stream and state decide when to import.

    with open_archive(path, expected_account_id=account_id) as archive:
        for record in archive.records():   # one row at a time, memory stays flat
            ...
        log(archive.summary.line()); state = archive.summary.state()

Rows carry the `DmEvent` fields, `source` = `archive`, `media_urls` and
`account_id`. X gives joins and leaves no id: they get `archive-<hex>` ids
(formula in `tap_x_dm.archive.ids`); `is_derived_id` tells them apart from X's.
"""

from __future__ import annotations

from tap_x_dm.archive.errors import ArchiveAccountError, ArchiveError, ArchiveFormatError
from tap_x_dm.archive.ids import DERIVED_ID_PREFIX, is_derived_id
from tap_x_dm.archive.manifest import ArchiveAccount, DmFile
from tap_x_dm.archive.reader import ArchiveSummary, XArchive, open_archive
from tap_x_dm.archive.records import EVENT_FIELDS, x_time

__all__ = [
    "DERIVED_ID_PREFIX",
    "EVENT_FIELDS",
    "ArchiveAccount",
    "ArchiveAccountError",
    "ArchiveError",
    "ArchiveFormatError",
    "ArchiveSummary",
    "DmFile",
    "XArchive",
    "is_derived_id",
    "open_archive",
    "x_time",
]
