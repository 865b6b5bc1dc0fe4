"""The archive as X sends it (a zip) or as the user unpacked it (a folder).

Both expose the same names (`data/direct-messages.js`, ...) so the rest of the
package never cares which it got. A zip member is read straight from the zip,
decompressed as it is read: nothing is unpacked to disk or memory. A member that
declares more than `MAX_RATIO` times its compressed size (X's JSON compresses
about 5 to 10 times; a crafted file of one repeated byte, 1000 times) is refused
in one line before it is opened. One that inflates past its declared size cannot
get further: zipfile stops there and fails its CRC-32 check (`archive.jsdata`).
"""

from __future__ import annotations

import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import IO

from typing_extensions import override

from tap_x_dm.archive.errors import ArchiveError, ArchiveFormatError, one_line

DATA = "data/"
#: No real archive's file inflates more than this many times its compressed size.
MAX_RATIO = 100
#: Up to this many bytes, any ratio goes (a small file of whitespace is harmless).
RATIO_FLOOR_BYTES = 1024 * 1024


class Container(ABC):
    """Read access to the files of an archive, named relative to its root."""

    def __init__(self, label: str) -> None:
        self.label = label

    @abstractmethod
    def data_names(self) -> list[str]:
        """Names of the files directly inside `data/` (`data/manifest.js`, ...)."""

    @abstractmethod
    def size(self, name: str) -> int:
        """Uncompressed size of the file `name`, in bytes."""

    @abstractmethod
    def identity(self, name: str) -> str:
        """What changes when the file `name` changes, read without reading it."""

    @abstractmethod
    def open(self, name: str) -> IO[bytes]:
        """A binary stream of the file `name` (decompressed for a zip member)."""

    @abstractmethod
    def close(self) -> None:
        """Release the zip file, if any."""

    def __enter__(self) -> Container:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FolderContainer(Container):
    """An unpacked archive: `root/data/*.js`."""

    def __init__(self, label: str, root: Path) -> None:
        super().__init__(label)
        self.root = root

    @override
    def data_names(self) -> list[str]:
        """Files of `data/`, sorted (media subfolders are skipped)."""
        return sorted(DATA + p.name for p in (self.root / "data").iterdir() if p.is_file())

    @override
    def size(self, name: str) -> int:
        """Size on disk."""
        return (self.root / name).stat().st_size

    @override
    def identity(self, name: str) -> str:
        """Size and modification time: what changes when the file does, read without it."""
        stat = (self.root / name).stat()
        return f"{stat.st_size}:{stat.st_mtime_ns}"

    @override
    def open(self, name: str) -> IO[bytes]:
        """The file, opened for binary reading."""
        try:
            return (self.root / name).open("rb")
        except OSError as exc:
            msg = f"X archive {self.label}: {name} cannot be read: {exc.strerror or exc}"
            raise ArchiveError(msg) from exc

    @override
    def close(self) -> None:
        """Nothing to release."""


class ZipContainer(Container):
    """The zip X sends, read in place; `prefix` is a top folder some re-zips add."""

    def __init__(self, label: str, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(label)
        self._zip = archive
        self._prefix = prefix
        self._infos = {
            info.filename[len(prefix) :]: info
            for info in archive.infolist()
            if info.filename.startswith(prefix + DATA) and not info.is_dir()
        }

    @override
    def data_names(self) -> list[str]:
        """Members directly inside `data/`, sorted."""
        return sorted(name for name in self._infos if "/" not in name[len(DATA) :])

    @override
    def size(self, name: str) -> int:
        """Uncompressed size from the zip's directory."""
        return self._infos[name].file_size

    @override
    def identity(self, name: str) -> str:
        """Size and CRC-32 from the zip's directory: the content's, read without it."""
        info = self._infos[name]
        return f"{info.file_size}:{info.CRC:08x}"

    @override
    def open(self, name: str) -> IO[bytes]:
        """The member, decompressed while it is read (zipfile stops at its declared size)."""
        info = self._infos[name]
        where = f"X archive {self.label}: {name}"
        limit = max(RATIO_FLOOR_BYTES, MAX_RATIO * info.compress_size)
        if info.file_size > limit:
            msg = (
                f"{where} inflates to more than {MAX_RATIO} times its {info.compress_size} "
                "compressed bytes: no X archive compresses so far; refused as a crafted file "
                "(a zip bomb)"
            )
            raise ArchiveFormatError(msg)
        try:
            member = self._zip.open(info)
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile) as exc:
            # RuntimeError: a password-protected member; NotImplementedError: a compression
            # method Python lacks.
            msg = f"{where} cannot be read: {one_line(str(exc))}"
            raise ArchiveError(msg) from exc
        return member

    @override
    def close(self) -> None:
        """Close the zip file."""
        self._zip.close()


def open_container(path: str | Path) -> Container:
    """Open `path`, the archive's zip or its unpacked folder, and find its `data/` folder.

    A folder may also be the `data/` folder itself, or hold the unpacked archive
    as its only subfolder (what unzipping into a new folder gives).
    """
    label = str(path)
    where = Path(path).expanduser()
    if where.is_dir():
        return FolderContainer(label, _folder_root(label, where))
    if not where.exists():
        msg = f"X archive {label} does not exist (archive_path: the zip or its unpacked folder)."
        raise ArchiveError(msg)
    if not zipfile.is_zipfile(where):
        msg = f"X archive {label} is neither a zip file nor a folder."
        raise ArchiveError(msg)
    try:
        archive = zipfile.ZipFile(where)
    except (zipfile.BadZipFile, OSError) as exc:
        msg = f"X archive {label} is not a readable zip file: {one_line(str(exc))}."
        raise ArchiveError(msg) from exc
    try:
        prefix = _zip_prefix(label, archive.namelist())
    except ArchiveError:
        archive.close()
        raise
    return ZipContainer(label, archive, prefix)


def _no_data(label: str) -> ArchiveError:
    return ArchiveError(
        f"X archive {label} has no data/ folder: is it the archive X sends "
        "(Settings > Your account > Download an archive of your data)?"
    )


def _folder_root(label: str, where: Path) -> Path:
    if (where / "data").is_dir():
        return where
    if where.name == "data" and (where / "manifest.js").is_file():
        return where.parent
    nested = [child for child in where.iterdir() if (child / "data").is_dir()]
    if len(nested) == 1:
        return nested[0]
    raise _no_data(label)


def _zip_prefix(label: str, names: list[str]) -> str:
    if any(name.startswith(DATA) for name in names):
        return ""
    tops = {name.split("/", 1)[0] + "/" for name in names if name.count("/") >= 2}
    nested = [top for top in tops if any(n.startswith(top + DATA) for n in names)]
    if len(nested) == 1:
        return nested[0]
    raise _no_data(label)
