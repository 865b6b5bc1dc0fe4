"""Build X archives ("Download your data") in the documented format, for tests.

Layout and field names follow X's own data/README.txt (see docs/archive.md):
`data/manifest.js` assigns `window.__THAR_CONFIG`, DM files assign
`window.YTD.direct_messages.partN` (group: `direct_messages_group`), large
kinds are split into `-partN` files, JSON is pretty-printed the way X writes it
(`"key" : value`). Items are written one at a time, so a generator of messages
builds a file of any size without holding it in memory.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ACCOUNT_ID = "1000000000"
USERNAME = "acme_support"


def _dumps(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, separators=(",", " : "))


def message(
    event_id: str,
    sender: str,
    created_at: str,
    text: str,
    *,
    recipient: str | None = None,
    urls: Iterable[dict[str, Any]] = (),
    media_urls: Iterable[str] = (),
    reactions: Any = (),
) -> dict[str, Any]:
    """A `messageCreate` item (one-to-one items carry `recipientId`)."""
    body: dict[str, Any] = {}
    if recipient is not None:
        body["recipientId"] = recipient
    body["reactions"] = list(reactions) if not isinstance(reactions, dict) else reactions
    body.update(
        urls=list(urls),
        text=text,
        mediaUrls=list(media_urls),
        senderId=sender,
        id=event_id,
        createdAt=created_at,
        editHistory=[],
    )
    return {"messageCreate": body}


def url(short: str, expanded: str, display: str) -> dict[str, str]:
    """A DM URL entity as the archive writes it."""
    return {"url": short, "expanded": expanded, "display": display}


def reaction(
    sender: str, key: str, event_id: str, created_at: str, *, readme_names: bool = True
) -> dict[str, str]:
    """A reaction inside `messageCreate.reactions`.

    X's README names the fields `reactionSenderID`, `reactionKey`, `reactionEventID`,
    `reactionCreatedAt`; third-party parsers show `senderId`, `eventId`, `createdAt`
    (`readme_names=False`). The nesting is unconfirmed, so tests use both.
    """
    if readme_names:
        return {
            "reactionSenderID": sender,
            "reactionKey": key,
            "reactionEventID": event_id,
            "reactionCreatedAt": created_at,
        }
    return {"senderId": sender, "reactionKey": key, "eventId": event_id, "createdAt": created_at}


def participants_join(initiator: str, users: list[str], created_at: str) -> dict[str, Any]:
    """Another participant joined (no event id)."""
    body = {"initiatingUserId": initiator, "userIds": users, "createdAt": created_at}
    return {"participantsJoin": body}


def participants_leave(users: list[str], created_at: str) -> dict[str, Any]:
    """Another participant left (no event id)."""
    return {"participantsLeave": {"userIds": users, "createdAt": created_at}}


def join_conversation(initiator: str, snapshot: list[str], created_at: str) -> dict[str, Any]:
    """The account itself joined (no event id)."""
    body = {"initiatingUserId": initiator, "participantsSnapshot": snapshot}
    return {"joinConversation": {**body, "createdAt": created_at}}


def name_update(initiator: str, name: str, created_at: str) -> dict[str, Any]:
    """A participant renamed the group."""
    body = {"initiatingUserId": initiator, "name": name, "createdAt": created_at}
    return {"conversationNameUpdate": body}


@dataclass
class Conversation:
    """One `dmConversation`: its items newest first, as X writes them.

    `id_last` writes `conversationId` after `messages` (the key order is not promised).
    """

    conversation_id: str
    items: Iterable[dict[str, Any]]
    id_last: bool = False


@dataclass
class ArchiveBuilder:
    """An archive to write as a folder or a zip.

    `parts` splits each DM kind into that many files (conversations dealt out in
    order); `manifest=False` leaves out data/manifest.js, `data_types=False` its
    file list, `account_file=False` data/account.js. `extra` adds or replaces files.
    """

    account_id: str = ACCOUNT_ID
    username: str = USERNAME
    one_to_one: list[Conversation] = field(default_factory=list)
    groups: list[Conversation] = field(default_factory=list)
    parts: dict[str, int] = field(default_factory=dict)
    manifest: bool = True
    data_types: bool = True
    account_file: bool = True
    extra: dict[str, bytes] = field(default_factory=dict)
    top_folder: str = ""

    def _kinds(self) -> list[tuple[str, str, list[Conversation]]]:
        return [
            ("direct-messages", "direct_messages", self.one_to_one),
            ("direct-messages-group", "direct_messages_group", self.groups),
        ]

    def _split(self, kind: str, conversations: list[Conversation]) -> list[list[Conversation]]:
        count = self.parts.get(kind, 1)
        chunks: list[list[Conversation]] = [[] for _ in range(count)]
        for index, conversation in enumerate(conversations):
            chunks[min(index * count // max(len(conversations), 1), count - 1)].append(conversation)
        return chunks

    def dm_file_names(self) -> list[tuple[str, str, list[Conversation]]]:
        """`(file name, global name, conversations)` for every DM file to write."""
        files = []
        for kind, global_base, conversations in self._kinds():
            if not conversations and kind not in self.parts:
                continue
            for part, chunk in enumerate(self._split(kind, conversations)):
                name = f"data/{kind}.js" if part == 0 else f"data/{kind}-part{part}.js"
                files.append((name, f"YTD.{global_base}.part{part}", chunk))
        return files

    def _manifest(self) -> bytes:
        config: dict[str, Any] = {
            "userInfo": {
                "accountId": self.account_id,
                "userName": self.username,
                "displayName": "Acme Support",
            },
            "archiveInfo": {
                "sizeBytes": "1024",
                "generationDate": "2026-11-30T12:00:00.000Z",
                "isPartialArchive": False,
                "maxPartSizeBytes": "53687091200",
            },
            "readmeInfo": {
                "fileName": "data/README.txt",
                "directory": "data/",
                "name": "README.txt",
            },
        }
        if self.data_types:
            types: dict[str, Any] = {
                "account": {
                    "files": [
                        {
                            "fileName": "data/account.js",
                            "globalName": "YTD.account.part0",
                            "count": "1",
                        }
                    ]
                }
            }
            keys = {
                "direct-messages": "directMessages",
                "direct-messages-group": "directMessagesGroup",
            }
            for name, global_name, chunk in self.dm_file_names():
                kind = name[len("data/") :].split(".js")[0].split("-part")[0]
                entry = types.setdefault(
                    keys[kind],
                    {"mediaDirectory": f"data/{kind.replace('-', '_')}_media", "files": []},
                )
                entry["files"].append(
                    {"fileName": name, "globalName": global_name, "count": str(len(chunk))}
                )
            config["dataTypes"] = types
        return ("window.__THAR_CONFIG = " + _dumps(config) + "\n").encode()

    def _account(self) -> bytes:
        account = {
            "email": "support@acme.example",
            "createdVia": "web",
            "username": self.username,
            "accountId": self.account_id,
            "createdAt": "2012-03-04T05:06:07.000Z",
            "accountDisplayName": "Acme Support",
        }
        return ("window.YTD.account.part0 = " + _dumps([{"account": account}]) + "\n").encode()

    def files(self) -> Iterator[tuple[str, Any]]:
        """`(name, bytes or writer)` for each file; a writer streams a DM file."""
        if self.manifest:
            yield "data/manifest.js", self._manifest()
        if self.account_file:
            yield "data/account.js", self._account()
        yield "data/README.txt", b"INTRODUCTION\n============\n"
        yield "data/tweets.js", b"window.YTD.tweets.part0 = [ ]\n"
        yield "data/direct_messages_media/1585321444547837956-J5KotyeIyd.jpg", b"\xff\xd8\xff"
        for name, global_name, chunk in self.dm_file_names():
            if name not in self.extra:
                yield name, _DmWriter(global_name, chunk)
        yield from self.extra.items()

    def build_folder(self, root: Path) -> Path:
        """Write the archive unpacked under `root`; returns the archive's folder."""
        for name, content in self.files():
            path = root / self.top_folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                _write(out, content)
        return root

    def build_zip(self, path: Path, compression: int = zipfile.ZIP_DEFLATED) -> Path:
        """Write the archive as the zip X sends; returns its path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            for name, content in self.files():
                with archive.open(self.top_folder + name, "w", force_zip64=True) as out:
                    _write(out, content)
        return path


class _DmWriter:
    """Writes one DM file item by item (never the whole file in memory)."""

    def __init__(self, global_name: str, conversations: list[Conversation]) -> None:
        self.global_name = global_name
        self.conversations = conversations

    def write(self, out: IO[bytes]) -> None:
        out.write(f"window.{self.global_name} = [ ".encode())
        for index, conversation in enumerate(self.conversations):
            if index:
                out.write(b", ")
            cid = f'"conversationId" : {_dumps(conversation.conversation_id)}'
            out.write(b'{\n  "dmConversation" : {\n    ')
            if not conversation.id_last:
                out.write(cid.encode() + b",\n    ")
            out.write(b'"messages" : [ ')
            for number, item in enumerate(conversation.items):
                if number:
                    out.write(b", ")
                out.write(_dumps(item).encode())
            out.write(b" ]")
            if conversation.id_last:
                out.write(b",\n    " + cid.encode())
            out.write(b"\n  }\n}")
        out.write(b" ]\n")


def _write(out: IO[bytes], content: Any) -> None:
    if isinstance(content, bytes):
        out.write(content)
    else:
        content.write(out)
