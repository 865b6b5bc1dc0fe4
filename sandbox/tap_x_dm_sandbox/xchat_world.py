"""The XChat history of a seed's world, made with real cryptography (once, then cached).

The account (users[0]) moved to XChat: its one-to-one conversations with two legacy
peers continue there (history in both systems), one legacy group was upgraded into
an XChat group (one member later left), peers started new groups and one peer keyed
a conversation to a key version whose blob the account never exported. Every event
is signed and encrypted by chatxdk as the sender's client would; `xchat_thrift`
frames it as X's server does. The result is a JSON document (`xchat_store` caches
it): times are offsets before "now", so one cache serves any clock.

What each event should decrypt to, and why some must not, is in its `expect`:
`outcome` is `ok`, `bad_signature` (tampered in transit), `departed_signer` (its
sender left and X no longer serves their keys) or `unknown_key_version` (keyed to
the account's key version 2 only).
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from tap_x_dm_sandbox import xchat_thrift
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.model import one_to_one_conversation_id
from tap_x_dm_sandbox.xchat_crypto import Client, Identity, KeyChange, Signed, new_identity

FORMAT = 1
MINUTE_MS = 60_000
DAY_MS = 86_400_000
#: Sequence ids grow with time: (horizon - offset) ms * 1000 + a counter, above this base.
SEQUENCE_BASE = 1_900_000_000_000_000_000
HORIZON_MS = 400 * DAY_MS
#: Creation time inside ciphertext (reply previews embed their target event).
_GENERATION_ANCHOR_MS = 1_790_000_000_000
#: A 16x8 PNG header: chatxdk reads its type and dimensions like a real image's.
PNG_16X8 = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
    + (16).to_bytes(4, "big")
    + (8).to_bytes(4, "big")
    + b"\x08\x06\x00\x00\x00"
)


def event_conversation_id(conversation_id: str) -> str:
    """The form events carry: `A:B` for a one-to-one pair, `g…` unchanged."""
    return conversation_id.replace("-", ":")


@dataclass
class _Conversation:
    id: str
    type: str
    member_ids: list[str]
    admin_ids: list[str] = field(default_factory=list)
    group_name: str | None = None
    legacy_id: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)  # message id -> framed event


def _direct(user_a: str, user_b: str) -> _Conversation:
    pair = one_to_one_conversation_id(user_a, user_b)
    return _Conversation(pair, "direct", pair.split("-"))


class _Builder:
    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.rng = random.Random(f"xchat/{seed}")
        self.identities: dict[tuple[str, str], Identity] = {}
        self.clients: dict[tuple[str, str], Client] = {}
        self.conversations: list[_Conversation] = []
        self.media: dict[str, dict[str, str]] = {}
        self.departed: list[str] = []
        self._counter = 0

    # -- identities ---------------------------------------------------------------------

    def identity(self, user_id: str, version: str = "1") -> Identity:
        key = (user_id, version)
        if key not in self.identities:
            self.identities[key] = new_identity(user_id, version)
        return self.identities[key]

    def client(self, user_id: str, version: str = "1") -> Client:
        key = (user_id, version)
        if key not in self.clients:
            self.clients[key] = Client(self.identity(user_id, version))
        return self.clients[key]

    # -- events ---------------------------------------------------------------------------

    def _sequence_id(self, offset_ms: int) -> str:
        self._counter += 1
        return str(SEQUENCE_BASE + (HORIZON_MS - offset_ms) * 1000 + self._counter % 1000)

    def add(
        self,
        conv: _Conversation,
        signed: Signed,
        sender: str,
        offset_ms: int,
        expect: dict[str, Any],
        *,
        key_version: str | None,
        tamper: bool = False,
    ) -> dict[str, Any]:
        previous = conv.events[-1]["sequence_id"] if conv.events else None
        sequence_id = self._sequence_id(offset_ms)
        signature = base64.b64decode(signed.signature_b64)
        if tamper:
            signature = xchat_thrift.tamper(signature)
        event = {
            "sequence_id": sequence_id,
            "previous_sequence_id": previous,
            "message_id": signed.message_id,
            "sender_id": sender,
            "offset_ms": offset_ms,
            "detail_b64": signed.detail_b64,
            "signature_b64": base64.b64encode(signature).decode("ascii"),
            "key_version": key_version,
            "is_key_event": expect["kind"] == "key_change",
            "expect": {"outcome": "ok", **expect},
        }
        conv.events.append(event)
        conv.raw[signed.message_id] = xchat_thrift.envelope(
            sequence_id=sequence_id,
            message_id=signed.message_id,
            sender_id=sender,
            conversation_id=event_conversation_id(conv.id),
            created_at_msec=_GENERATION_ANCHOR_MS - offset_ms,
            detail=base64.b64decode(signed.detail_b64),
            signature=signature,
            previous_sequence_id=previous,
        )
        return event

    def keyed(
        self, conv: _Conversation, change: KeyChange, sender: str, offset_ms: int, kind: str
    ) -> None:
        """Add a key change's events: the key change, then a group action if any."""
        kinds = ["key_change", kind] if kind != "key_change" else ["key_change"]
        for position, (signed, what) in enumerate(zip(change.events, kinds, strict=True)):
            expect = {"kind": what}
            self.add(conv, signed, sender, offset_ms - position, expect, key_version=change.version)

    def text(
        self,
        conv: _Conversation,
        sender: str,
        text: str,
        key: KeyChange,
        offset_ms: int,
        *,
        version: str = "1",
        attachments: list[dict[str, Any]] | None = None,
        **expect: Any,
    ) -> dict[str, Any]:
        signed = self.client(sender, version).message(
            event_conversation_id(conv.id), text, key, attachments or []
        )
        tamper = expect.pop("tamper", False)
        what = {"kind": "message", "text": text, **expect}
        version_of_key = key.version
        return self.add(
            conv, signed, sender, offset_ms, what, key_version=version_of_key, tamper=tamper
        )

    def raw(self, conv: _Conversation, event: dict[str, Any]) -> str:
        return conv.raw[event["message_id"]]

    def attachment(self, conv: _Conversation, sender: str, key: KeyChange) -> dict[str, Any]:
        encrypted = self.client(sender).encrypt_media(PNG_16X8 + bytes(64), key)
        hash_key = hashlib.sha256(encrypted).hexdigest()[:32]
        self.media[hash_key] = {
            "conversation": conv.id,
            "data_b64": base64.b64encode(encrypted).decode("ascii"),
        }
        return {
            "attachment_type": "media",
            "media_hash_key": hash_key,
            "filesize_bytes": len(PNG_16X8) + 64,
            "filename": "receipt.png",
            "width": 16,
            "height": 8,
        }


def pick_cast(dataset: Dataset) -> dict[str, Any] | None:
    """Choose the cast from the legacy world, or None when it is too small."""
    account = dataset.users[0].id
    empty = dataset.empty_user_id()
    legacy = sorted(dataset.conversations_of(account))
    pairs = [c for c in legacy if "-" in c]
    groups = [c for c in legacy if "-" not in c]
    peers = [next(u for u in c.split("-") if u != account) for c in pairs]
    if len(peers) < 2:
        return None
    group, group_members = None, []
    for candidate in groups:
        members = sorted((dataset.conversation_members(candidate) or frozenset()) - {account})
        if len(members) >= 3:
            group, group_members = candidate, members[:3]
            break
    taken = {account, empty, *peers[:2], *group_members}
    others = [u.id for u in dataset.users if u.id not in taken]
    if group is None or len(others) < 3:
        return None
    return {
        "account": account,
        "peers": peers[:2],
        "legacy_group": group,
        "group_members": group_members,
        "others": others[:3],
    }


def build(dataset: Dataset, seed: int) -> dict[str, Any]:
    """Make the XChat world of `dataset`: a JSON-able document (slow: real crypto)."""
    cast = pick_cast(dataset)
    if cast is None:
        return {
            "format": FORMAT,
            "cast": None,
            "identities": [],
            "conversations": [],
            "media": {},
            "departed": [],
        }
    b = _Builder(dataset, seed)
    a = cast["account"]
    peer_b, peer_c = cast["peers"]
    d, f, g = cast["others"]
    h = DAY_MS // 24

    # 1. A-B: one-to-one, history in both systems; every kind of event.
    ab = _direct(a, peer_b)
    k1 = b.client(a).key_change(event_conversation_id(ab.id), [b.identity(a), b.identity(peer_b)])
    t = 20 * DAY_MS
    b.keyed(ab, k1, a, t, "key_change")
    first = b.text(ab, a, "Hi, we moved this chat to XChat.", k1, t - 10 * MINUTE_MS)
    second = b.text(
        ab,
        peer_b,
        "Great, here is my receipt.",
        k1,
        t - 20 * MINUTE_MS,
        attachments=[b.attachment(ab, peer_b, k1)],
    )
    reply = b.client(a).reply(
        event_conversation_id(ab.id), "Thanks, refund on its way.", b.raw(ab, second), k1
    )
    b.add(
        ab,
        reply,
        a,
        t - 30 * MINUTE_MS,
        {"kind": "reply", "text": "Thanks, refund on its way.", "reply_to": second["sequence_id"]},
        key_version=k1.version,
    )
    reaction = b.client(peer_b).reaction(b.raw(ab, first), "\N{THUMBS UP SIGN}", k1)
    b.add(
        ab,
        reaction,
        peer_b,
        t - 40 * MINUTE_MS,
        {"kind": "reaction", "emoji": "\N{THUMBS UP SIGN}", "target": first["sequence_id"]},
        key_version=k1.version,
    )
    edit = b.client(a).edit(b.raw(ab, first), "Hi, we moved this support chat to XChat.", k1)
    b.add(
        ab,
        edit,
        a,
        t - 50 * MINUTE_MS,
        {
            "kind": "edit",
            "text": "Hi, we moved this support chat to XChat.",
            "target": first["sequence_id"],
        },
        key_version=k1.version,
    )
    oops = b.text(ab, a, "Sorry, wrong chat.", k1, t - 60 * MINUTE_MS)
    delete = b.client(a).delete(event_conversation_id(ab.id), [oops["sequence_id"]])
    b.add(
        ab,
        delete,
        a,
        t - 61 * MINUTE_MS,
        {"kind": "delete", "targets": [oops["sequence_id"]]},
        key_version=None,
    )
    k2 = b.client(peer_b).key_change(
        event_conversation_id(ab.id), [b.identity(a), b.identity(peer_b)]
    )
    t = 5 * DAY_MS
    b.keyed(ab, k2, peer_b, t, "key_change")
    b.text(ab, peer_b, "Refund received, thank you!", k2, t - 5 * MINUTE_MS)
    b.text(ab, a, "Glad we could help.", k2, t - 9 * MINUTE_MS)
    b.conversations.append(ab)

    # 2. A-C: one-to-one, history in both systems; one signature tampered in transit.
    ac = _direct(a, peer_c)
    k = b.client(peer_c).key_change(
        event_conversation_id(ac.id), [b.identity(a), b.identity(peer_c)]
    )
    t = 12 * DAY_MS
    b.keyed(ac, k, peer_c, t, "key_change")
    b.text(ac, peer_c, "My order never arrived.", k, t - 3 * MINUTE_MS)
    b.text(ac, a, "Sorry to hear that, checking now.", k, t - 7 * MINUTE_MS)
    b.text(
        ac,
        peer_c,
        "Order 4711, if that helps.",
        k,
        t - 8 * MINUTE_MS,
        tamper=True,
        outcome="bad_signature",
    )
    b.text(ac, a, "Found it, it ships today.", k, t - 2 * h)
    b.conversations.append(ac)

    # 3. The legacy group upgraded into XChat; its third member later left.
    stay1, stay2, leaver = cast["group_members"]
    roster = [a, stay1, stay2, leaver]
    legacy_group = cast["legacy_group"]
    up = _Conversation(f"g{legacy_group}", "group", roster, [a], legacy_id=legacy_group)
    k = b.client(a).legacy_group_upgrade(up.id, [b.identity(u) for u in roster], [a], "Launch team")
    up.group_name = b.client(a).encrypt_text("Launch team", k)
    t = 15 * DAY_MS
    b.keyed(up, k, a, t, "group_create")
    up.events[-1]["expect"]["legacy_group_upgrade"] = True
    b.text(up, stay1, "Good to have the group on XChat.", k, t - 30 * MINUTE_MS)
    b.text(up, leaver, "I am moving teams next week.", k, t - DAY_MS, outcome="departed_signer")
    k_leaver = b.client(leaver).key_change(up.id, [b.identity(u) for u in roster])
    b.keyed(up, k_leaver, leaver, t - DAY_MS - 10 * MINUTE_MS, "key_change")
    up.events[-1]["expect"]["outcome"] = "departed_signer"
    b.text(up, leaver, "Bye all, thanks!", k_leaver, t - 2 * DAY_MS, outcome="departed_signer")
    k = b.client(a).key_change(up.id, [b.identity(u) for u in roster[:3]])
    b.keyed(up, k, a, t - 2 * DAY_MS - 5 * MINUTE_MS, "key_change")
    b.text(up, stay2, "Launch moved to Friday.", k, t - 3 * DAY_MS)
    b.text(up, a, "Noted, thanks.", k, t - 3 * DAY_MS - 4 * MINUTE_MS)
    up.member_ids = roster[:3]
    b.departed.append(leaver)
    b.conversations.append(up)

    # 4. A group started in XChat by a peer; a member added later (key rotation).
    group_id = f"g{SEQUENCE_BASE // 1000 + b.rng.randrange(10**12)}"
    grp = _Conversation(group_id, "group", [d, a, f], [d])
    k = b.client(d).group_create(group_id, [b.identity(u) for u in (d, a, f)], [d], "Partners")
    grp.group_name = b.client(d).encrypt_text("Partners", k)
    t = 9 * DAY_MS
    b.keyed(grp, k, d, t, "group_create")
    b.text(grp, d, "Welcome to the partner group.", k, t - 5 * MINUTE_MS)
    b.text(grp, f, "Hello everyone.", k, t - 25 * MINUTE_MS)
    k = b.client(d).members_add(
        group_id, [b.identity(u) for u in (d, a, f, g)], [g], [d, a, f], [d]
    )
    b.keyed(grp, k, d, t - DAY_MS, "group_member_add")
    b.text(grp, g, "Thanks for adding me.", k, t - DAY_MS - 5 * MINUTE_MS)
    b.text(grp, a, "Welcome!", k, t - DAY_MS - 6 * MINUTE_MS)
    grp.member_ids = [d, a, f, g]
    b.conversations.append(grp)

    # 5. A-F keyed only to the account's key version 2 (a device never backed up).
    af = _direct(a, f)
    k = b.client(f).key_change(event_conversation_id(af.id), [b.identity(a, "2"), b.identity(f)])
    t = 2 * DAY_MS
    b.keyed(af, k, f, t, "key_change")
    af.events[-1]["expect"]["outcome"] = "unknown_key_version"
    b.text(
        af,
        f,
        "Can you confirm my new address?",
        k,
        t - 5 * MINUTE_MS,
        outcome="unknown_key_version",
    )
    b.text(af, a, "Confirmed.", k, t - 15 * MINUTE_MS, version="2", outcome="unknown_key_version")
    b.conversations.append(af)

    return {
        "format": FORMAT,
        "cast": cast,
        "identities": [i.as_json() for i in b.identities.values()],
        "departed": b.departed,
        "media": b.media,
        "conversations": [
            {
                "id": c.id,
                "type": c.type,
                "member_ids": c.member_ids,
                "admin_ids": c.admin_ids,
                "group_name": c.group_name,
                "legacy_id": c.legacy_id,
                "events": c.events,
            }
            for c in b.conversations
        ],
    }
