"""What an archive says about itself: whose it is, and which DM files it holds.

`data/manifest.js` (`window.__THAR_CONFIG = {...}`) names the account
(`userInfo.accountId`, `userName`) and lists each data type's files and parts
(`dataTypes`). Older or trimmed archives may lack it: then `data/account.js`
names the account and the DM files are found by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tap_x_dm.archive.container import Container
from tap_x_dm.archive.errors import ArchiveError, ArchiveFormatError
from tap_x_dm.archive.jsdata import load_small

MANIFEST = "data/manifest.js"
ACCOUNT = "data/account.js"
#: The manifest's data type of each DM file kind, in the order they are read.
KINDS = {"direct-messages": "directMessages", "direct-messages-group": "directMessagesGroup"}
_PART = re.compile(r"data/(direct-messages(?:-group)?)(?:-part(\d+))?\.js")
_X_ID = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class ArchiveAccount:
    """The account the archive belongs to, and the file that said so."""

    id: str
    username: str | None
    source: str


@dataclass(frozen=True)
class DmFile:
    """One DM data file: `kind` is `direct-messages` or `direct-messages-group`.

    `part` is 0 for `<kind>.js` and N for `<kind>-partN.js`; `size` is in bytes,
    uncompressed.
    """

    name: str
    kind: str
    part: int
    size: int


def read_manifest(container: Container, names: set[str]) -> dict[str, Any] | None:
    """The manifest's object, or None when the archive has none."""
    if MANIFEST not in names:
        return None
    where = f"X archive {container.label}: {MANIFEST}"
    with container.open(MANIFEST) as raw:
        manifest = load_small(raw, where)
    if not isinstance(manifest, dict):
        msg = f"{where}: expected a JSON object (window.__THAR_CONFIG = {{...}})"
        raise ArchiveFormatError(msg)
    return manifest


def read_account(
    container: Container, names: set[str], manifest: dict[str, Any] | None
) -> ArchiveAccount:
    """The account from the manifest's `userInfo`, else from `data/account.js`."""
    info = manifest.get("userInfo") if manifest else None
    if isinstance(info, dict) and info.get("accountId") is not None:
        where = f"X archive {container.label}: {MANIFEST}"
        return _account(info.get("accountId"), info.get("userName"), MANIFEST, where)
    if ACCOUNT not in names:
        missing = "no userInfo.accountId in data/manifest.js" if manifest else "no manifest"
        msg = f"X archive {container.label}: {missing} and no data/account.js: whose is it?"
        raise ArchiveError(msg)
    where = f"X archive {container.label}: {ACCOUNT}"
    with container.open(ACCOUNT) as raw:
        data = load_small(raw, where)
    entry = data[0] if isinstance(data, list) and data else data
    account = entry.get("account", entry) if isinstance(entry, dict) else None
    if not isinstance(account, dict) or account.get("accountId") is None:
        msg = f"{where}: no account.accountId"
        raise ArchiveFormatError(msg)
    return _account(account.get("accountId"), account.get("username"), ACCOUNT, where)


def _account(account_id: Any, username: Any, source: str, where: str) -> ArchiveAccount:
    text = str(account_id).strip()
    if not _X_ID.fullmatch(text):
        msg = f"{where}: the account id {text[:40]!r} is not an X id"
        raise ArchiveFormatError(msg)
    return ArchiveAccount(text, str(username) if username else None, source)


def dm_files(
    container: Container, names: set[str], manifest: dict[str, Any] | None
) -> tuple[DmFile, ...]:
    """The DM files to read, by kind then part; the manifest's list wins where it has one."""
    data_types = manifest.get("dataTypes") if manifest else None
    data_types = data_types if isinstance(data_types, dict) else {}
    found: list[DmFile] = []
    for kind, data_type in KINDS.items():
        listed = _listed(data_types.get(data_type))
        if listed is None:
            listed = [name for name in names if _kind_of(name) == kind]
        for index, name in enumerate(listed):
            if name not in names:
                msg = f"X archive {container.label}: {MANIFEST} lists {name}, which is missing"
                raise ArchiveError(msg)
            match = _PART.fullmatch(name)
            part = int(match.group(2) or 0) if match else index
            found.append(DmFile(name, kind, part, container.size(name)))
    if not found:
        msg = (
            f"X archive {container.label} has neither data/direct-messages.js nor "
            "data/direct-messages-group.js: no DMs to import"
        )
        raise ArchiveError(msg)
    order = list(KINDS)
    return tuple(sorted(found, key=lambda f: (order.index(f.kind), f.part, f.name)))


def _kind_of(name: str) -> str | None:
    match = _PART.fullmatch(name)
    return match.group(1) if match else None


def _listed(data_type: Any) -> list[str] | None:
    """File names a manifest data type lists, or None when it lists none at all."""
    if not isinstance(data_type, dict) or not isinstance(data_type.get("files"), list):
        return None
    listed: list[str] = []
    for entry in data_type["files"]:
        name = entry.get("fileName") if isinstance(entry, dict) else entry
        if isinstance(name, str) and name.strip():
            name = name.strip().lstrip("./")
            listed.append(name if name.startswith("data/") else "data/" + name)
    return listed
