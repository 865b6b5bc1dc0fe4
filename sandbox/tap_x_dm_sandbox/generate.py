"""The seeded generator of a brand's support inbox (users, conversations, events, Tweets).

Same arguments, same dataset. Events are written straight into the store's columns so
a million of them build in seconds; their content is derived later (see `content`).
"""

from __future__ import annotations

import itertools
import random
from array import array
from bisect import bisect_right
from dataclasses import dataclass

from tap_x_dm_sandbox.codes import (
    F_LINK,
    F_MENTION,
    F_SPECIAL,
    F_TAG,
    F_TWEET,
    JOIN,
    LEAVE,
    MC,
    S_PLAN,
    S_TWEET,
    S_USERS,
    stream_seed,
)
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.model import (
    DAY_MS,
    TWEPOCH_MS,
    iso_ms,
    one_to_one_conversation_id,
    snowflake,
)
from tap_x_dm_sandbox.text import ALNUM, DESCRIPTIONS, LOCATIONS, NAMES, tco
from tap_x_dm_sandbox.users import SandboxUser


@dataclass
class _ConvPlan:
    members: list[int]  # user positions; for groups the initial members, creator first
    weight: float
    group: bool
    slots: list[int]  # forced slots: first event, then group membership changes


class Generator:
    """Builds a generated Dataset; one object per build."""

    def __init__(
        self, *, seed: int, now_ms: int, n_users: int, n_convs: int, days: int, n_events: int
    ) -> None:
        if n_users < 4:
            raise ValueError("users must be >= 4 (account, two customers, one user without DMs)")
        if n_convs < 1:
            raise ValueError("conversations must be >= 1")
        if days < 1:
            raise ValueError("days must be >= 1")
        if n_events < n_convs:
            raise ValueError("events must be >= conversations (every conversation has an event)")
        if now_ms - (days + 120) * DAY_MS <= TWEPOCH_MS:
            raise ValueError("now_ms - days is too close to the Snowflake epoch (2010-11-04)")
        self.seed = seed
        self.now_ms = now_ms
        self.n_users = n_users
        self.n_convs = n_convs
        self.days = days
        self.n_events = n_events
        self.rng = random.Random(stream_seed(seed, S_PLAN, 0))

    def build(self) -> Dataset:
        """Return the dataset: users, conversation plans, events, then Tweets."""
        dataset = Dataset(seed=self.seed, users=self._users())
        plans = self._plan_conversations()
        self._events(dataset, plans)
        self._tweets(dataset)
        dataset._empty_user_id = dataset._users[-1].id
        return dataset

    # users ------------------------------------------------------------------

    def _users(self) -> list[SandboxUser]:
        rng = random.Random(stream_seed(self.seed, S_USERS, 0))
        brand_id = str(rng.randrange(10**8, 4 * 10**9))
        users = [
            SandboxUser(
                id=brand_id,
                username="acme_support",
                name="Acme Support",
                created_at="2009-03-01T10:00:00.000Z",
                description="Official support for Acme. Here 24/7 🛠️ Orders, returns & billing.",
                protected=False,
                verified=True,
                location="San Francisco, CA",
                profile_image_url=(
                    f"https://pbs.twimg.com/profile_images/{rng.randrange(10**17, 10**18)}"
                    "/acme_normal.jpg"
                ),
                url="https://t.co/" + "".join(rng.choice(ALNUM) for _ in range(10)),
            )
        ]
        taken_ids = {brand_id}
        taken_names = {"acme_support"}
        created_floor = TWEPOCH_MS + 400 * DAY_MS
        created_ceiling = self.now_ms - (self.days + 30) * DAY_MS
        for index in range(1, self.n_users):
            name, handle = NAMES[(index - 1) % len(NAMES)]
            if rng.random() < 0.4 and created_ceiling > created_floor:
                created_ms = rng.randrange(created_floor, created_ceiling)
                user_id = str(snowflake(created_ms, rng.randrange(4096)))
            else:
                numeric = rng.randrange(10**5, 3 * 10**9)
                user_id = str(numeric)
                # Old numeric ids: 2007-2014, roughly in id order.
                created_ms = 1_172_700_000_000 + int(numeric / (3 * 10**9) * 250_000_000_000)
            if user_id in taken_ids:
                user_id = str(int(user_id) + 1 + index)
            taken_ids.add(user_id)
            username = handle
            suffix = 1
            while username in taken_names:
                suffix += 1
                username = f"{handle[: 15 - len(str(suffix))]}{suffix}"
            taken_names.add(username)
            users.append(
                SandboxUser(
                    id=user_id,
                    username=username,
                    name=name,
                    created_at=iso_ms(created_ms),
                    description=rng.choice(DESCRIPTIONS),
                    protected=rng.random() < 0.1,
                    verified=rng.random() < 0.05,
                    location=rng.choice(LOCATIONS),
                    profile_image_url=(
                        f"https://pbs.twimg.com/profile_images/{rng.randrange(10**17, 10**19)}"
                        f"/{''.join(rng.choice(ALNUM) for _ in range(8))}_normal.jpg"
                    ),
                    url=None if rng.random() < 0.8 else tco(rng),
                )
            )
        return users

    # conversations ---------------------------------------------------------

    def _plan_conversations(self) -> list[_ConvPlan]:
        rng = self.rng
        customers = list(range(1, self.n_users - 1))  # the last user never has a DM
        n_groups = self.n_convs // 5
        n_one = self.n_convs - n_groups
        brand_one = min(n_one, len(customers))
        wanted_pairs = n_one - brand_one
        max_pairs = len(customers) * (len(customers) - 1) // 2
        n_pairs = min(wanted_pairs, max_pairs)
        n_groups += wanted_pairs - n_pairs
        plans: list[_ConvPlan] = []
        shuffled = customers[:]
        rng.shuffle(shuffled)
        plans.extend(
            _ConvPlan(members=[0, c], weight=3.0 * rng.uniform(0.3, 1.7), group=False, slots=[])
            for c in shuffled[:brand_one]
        )
        pairs: set[tuple[int, int]] = set()
        if n_pairs > max_pairs // 2:
            pairs = set(rng.sample(list(itertools.combinations(customers, 2)), n_pairs))
        while len(pairs) < n_pairs:
            a, b = rng.sample(customers, 2)
            pairs.add((min(a, b), max(a, b)))
        plans.extend(
            _ConvPlan(members=list(pair), weight=rng.uniform(0.3, 1.7), group=False, slots=[])
            for pair in sorted(pairs)
        )
        for _ in range(n_groups):
            with_brand = rng.random() < 0.8
            size = min(rng.randrange(2, 6), len(customers))
            invited = rng.sample(customers, size)
            if with_brand:
                creator_first = (
                    [0, *invited] if rng.random() < 0.7 else [invited[0], 0, *invited[1:]]
                )
            else:
                creator_first = invited
            weight = (2.0 if with_brand else 1.0) * rng.uniform(0.3, 1.7)
            plans.append(_ConvPlan(members=creator_first, weight=weight, group=True, slots=[]))
        # Membership changes of groups, as many as the event budget allows.
        changes = [rng.choice((0, 0, 1, 1, 2, 3)) if p.group else 0 for p in plans]
        budget = self.n_events - len(plans)
        while sum(changes) > budget:
            changes[changes.index(max(changes))] -= 1
        # Distinct forced slots, conversation starts biased towards the older end.
        needed = len(plans) + sum(changes)
        if needed * 2 > self.n_events:
            chosen = rng.sample(range(self.n_events), needed)
        else:
            seen: set[int] = set()
            chosen = []
            while len(chosen) < needed:
                slot = int(self.n_events * rng.random() ** 1.6)
                if slot not in seen:
                    seen.add(slot)
                    chosen.append(slot)
        smallest = min(chosen)
        chosen[chosen.index(smallest)] = 0  # something must happen at slot 0
        cursor = 0
        for plan, extra in zip(plans, changes, strict=True):
            plan.slots = sorted(chosen[cursor : cursor + 1 + extra])
            cursor += 1 + extra
        plans.sort(key=lambda p: p.slots[0])
        return plans

    # events ----------------------------------------------------------------

    def _timestamps(self) -> array[float]:
        """Uniform order statistics (sorted, no sort needed) via exponential spacings."""
        rng = self.rng
        expo = rng.expovariate
        cumulative: array[float] = array("d")
        total = 0.0
        for _ in range(self.n_events + 1):
            total += expo(1.0)
            cumulative.append(total)
        return cumulative

    def _events(self, dataset: Dataset, plans: list[_ConvPlan]) -> None:
        rng = self.rng
        random_ = rng.random
        users = dataset._users
        n = self.n_events
        span = self.days * DAY_MS
        start_ms = self.now_ms - span
        cumulative = self._timestamps()
        scale = 1.0 / cumulative[n]
        # Forced slots: (plan index, change number); change 0 is the first event.
        forced: dict[int, tuple[int, int]] = {}
        for index, plan in enumerate(plans):
            for change, slot in enumerate(plan.slots):
                forced[slot] = (index, change)
        current: list[list[int]] = [list(p.members) for p in plans]
        ever: list[set[int]] = [set(p.members) for p in plans]
        conv_ids: list[str] = [""] * len(plans)
        for index, plan in enumerate(plans):
            if not plan.group:
                conv_ids[index] = one_to_one_conversation_id(
                    users[plan.members[0]].id, users[plan.members[1]].id
                )
        active: list[int] = []
        active_cum: list[float] = []
        weight_total = 0.0
        struct: dict[int, tuple[int, ...]] = {}
        customers = list(range(1, len(users) - 1))
        # Columns are filled directly; conversations are registered once ids are known.
        ids = dataset._ids
        conv_col = dataset._conv
        sender_col = dataset._sender
        type_col = dataset._type
        flags_col = dataset._flags
        conv_pos: list[array[int]] = [array("i") for _ in plans]
        struct_pos = dataset._struct_pos
        prev_ms = -1
        prev_seq = 0
        prev_conv = -1
        for i in range(n):
            u = cumulative[i] * scale
            # Density grows linearly to 3x at now: inverse CDF of (1 + 2x) / 2.
            x = ((1.0 + 8.0 * u) ** 0.5 - 1.0) * 0.5
            ms = start_ms + int(x * span)
            if i and random_() < 0.01:
                ms = prev_ms
            if ms <= prev_ms:
                ms = prev_ms
                seq = prev_seq + 1
                if seq >= 4096:
                    ms += 1
                    seq = 0
            else:
                seq = 0
            prev_ms, prev_seq = ms, seq
            event_id = ((ms - TWEPOCH_MS) << 22) | seq
            type_code = MC
            flags = 0
            sender = -1
            hit = forced.get(i)
            if hit is not None:
                conv, change = hit
                plan = plans[conv]
                if change == 0:
                    if plan.group:
                        # The creator's ParticipantsJoin lists every initial member.
                        type_code = JOIN
                        sender = plan.members[0]
                        struct[event_id] = tuple(plan.members)
                        conv_ids[conv] = str(
                            snowflake(ms - 1 - rng.randrange(2_000), rng.randrange(4096))
                        )
                    else:
                        # A customer usually opens a support conversation.
                        sender = plan.members[1] if plan.members[0] == 0 else plan.members[0]
                    weight_total += plan.weight
                    active.append(conv)
                    active_cum.append(weight_total)
                else:
                    members = current[conv]
                    outsiders = [c for c in customers if c not in members]
                    leavers = [m for m in members[1:] if m != 0]
                    if outsiders and (not leavers or len(members) < 3 or random_() < 0.6):
                        type_code = JOIN
                        joined = tuple(
                            rng.sample(outsiders, min(len(outsiders), rng.choice((1, 1, 2))))
                        )
                        sender = members[rng.randrange(len(members))]
                        members.extend(joined)
                        ever[conv].update(joined)
                        struct[event_id] = joined
                    elif leavers:
                        type_code = LEAVE
                        left = leavers[rng.randrange(len(leavers))]
                        members.remove(left)
                        struct[event_id] = (left,)
                    else:  # nobody to add or remove: an ordinary message instead
                        sender = members[rng.randrange(len(members))]
            else:
                if prev_conv >= 0 and random_() < 0.5:
                    conv = prev_conv
                else:
                    conv = active[bisect_right(active_cum, random_() * weight_total)]
                members = current[conv]
                sender = members[rng.randrange(len(members))]
            if type_code == MC:
                r = random_()
                if r < 0.07:
                    flags = 1 if r < 0.049 else (2 if r < 0.063 else 3)
                    if random_() < 0.25:
                        flags |= F_SPECIAL
                else:
                    if r < 0.12:
                        flags |= F_TWEET
                    elif r < 0.17:
                        flags |= F_LINK
                    elif r > 0.9985:
                        flags |= F_SPECIAL
                if not flags & F_SPECIAL:
                    r = random_()
                    if r < 0.03:
                        flags |= F_TAG
                    elif r < 0.06:
                        flags |= F_MENTION
            else:
                struct_pos.append(i)
            ids.append(event_id)
            conv_col.append(conv)
            sender_col.append(sender)
            type_col.append(type_code)
            flags_col.append(flags)
            conv_pos[conv].append(i)
            prev_conv = conv
        for index, plan in enumerate(plans):
            ordered = sorted(ever[index], key=lambda p: (p not in plan.members, p))
            dataset._add_conversation(conv_ids[index], frozenset(users[p].id for p in ordered))
            dataset._conv_pos[index] = conv_pos[index]
        dataset._struct_participants = struct

    # Tweets ------------------------------------------------------------------

    def _tweets(self, dataset: Dataset) -> None:
        rng = random.Random(stream_seed(self.seed, S_TWEET, 0))
        count = max(24, min(20_000, self.n_events // 40))
        first = self.now_ms - (self.days + 60) * DAY_MS
        last = self.now_ms - 3_600_000
        stamps = sorted(rng.randrange(first, last) for _ in range(count))
        customers = range(1, len(dataset._users) - 1)
        previous = 0
        for stamp in stamps:
            tweet_id = max(snowflake(stamp, rng.randrange(4096)), previous + 1)
            previous = tweet_id
            dataset._tweet_ids.append(tweet_id)
            dataset._tweet_author.append(0 if rng.random() < 0.7 else rng.choice(customers))
            dataset._tweet_deleted.append(1 if rng.random() < 0.05 else 0)
        if not any(dataset._tweet_deleted):
            dataset._tweet_deleted[rng.randrange(count)] = 1
