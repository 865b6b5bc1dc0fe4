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
from typing import Any

from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.xchat_builder import (
    DAY_MS,
    FORMAT,
    MINUTE_MS,
    SEQUENCE_BASE,
    Builder,
    Conversation,
    direct,
    event_conversation_id,
)


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
    # Legacy group ids are snowflakes of the generation time: choose by members, which a
    # seed fixes, so one cache serves every clock (`legacy_group` is found again at load).
    candidates = []
    for candidate in groups:
        members = sorted(dataset.conversation_members(candidate) or (), key=int)
        if len(members) >= 4:
            candidates.append((members, candidate))
    if not candidates:
        return None
    members, group = min(candidates)
    group_members = [m for m in members if m != account][:3]
    taken = {account, empty, *peers[:2], *group_members}
    others = [u.id for u in dataset.users if u.id not in taken]
    if len(others) < 3:
        return None
    return {
        "account": account,
        "peers": peers[:2],
        "legacy_group": group,
        "legacy_group_members": members,
        "group_members": group_members,
        "others": others[:3],
    }


def find_legacy_group(dataset: Dataset, members: list[str]) -> str | None:
    """The account's legacy group with exactly these members (its id depends on the clock)."""
    wanted = frozenset(members)
    for conversation in sorted(dataset.conversations_of(dataset.users[0].id)):
        if "-" not in conversation and dataset.conversation_members(conversation) == wanted:
            return conversation
    return None


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
    b = Builder(seed)
    a = cast["account"]
    peer_b, peer_c = cast["peers"]
    d, f, g = cast["others"]
    h = DAY_MS // 24

    # 1. A-B: one-to-one, history in both systems; every kind of event.
    ab = direct(a, peer_b)
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
    ac = direct(a, peer_c)
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
    upgraded_id = f"g{b.rng.randrange(10**17, 10**18)}"  # unrelated to the legacy id
    up = Conversation(upgraded_id, "group", roster, [a], legacy_id=cast["legacy_group"])
    k = b.client(a).legacy_group_upgrade(up.id, [b.identity(u) for u in roster], [a], "Launch team")
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
    # X's clients encrypt the group name again under each new key: it is under the latest.
    up.group_name = b.client(a).encrypt_text("Launch team", k)
    b.departed.append(leaver)
    b.conversations.append(up)

    # 4. A group started in XChat by a peer; a member added later (key rotation).
    group_id = f"g{SEQUENCE_BASE // 1000 + b.rng.randrange(10**12)}"
    grp = Conversation(group_id, "group", [d, a, f], [d])
    k = b.client(d).group_create(group_id, [b.identity(u) for u in (d, a, f)], [d], "Partners")
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
    grp.group_name = b.client(d).encrypt_text("Partners", k)
    b.conversations.append(grp)

    # 5. A-F keyed only to the account's key version 2 (a device never backed up).
    af = direct(a, f)
    af.member_versions = {a: "2"}
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
                "member_versions": c.member_versions,
                "latest_key": {
                    "key_b64": base64.b64encode(c.latest_key.key).decode("ascii"),
                    "version": c.latest_key.version,
                }
                if c.latest_key
                else None,
            }
            for c in b.conversations
        ],
    }
