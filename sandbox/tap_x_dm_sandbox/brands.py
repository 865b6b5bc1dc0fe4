"""A fleet of brand accounts (`--brands K`) and app-wide faults that clear (`--*-between`).

An agency runs many brand accounts against one X app: each brand has its own inbox
(its own customers, conversations and events), its own OAuth 2.0 grant and its own
rate budget (the limiter keys budgets by user). Each brand is a generated `Dataset`
of its own, served by its own endpoint handlers; the sandbox's default account and
its start-up lines are unchanged. The brands' credentials go to `--brands-file`.

App-wide faults (X's usage cap, credits depleted) hit every account of the app at
once and clear after a while: `TimedAppFaults` switches them on and off by the
sandbox clock, seconds after start.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tap_x_dm_sandbox.clock import Clock
from tap_x_dm_sandbox.config import SandboxConfig
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.endpoints import DmEndpoints
from tap_x_dm_sandbox.lookups import LookupEndpoints
from tap_x_dm_sandbox.model import ALL_EVENT_TYPES, DAY_MS, DM_EVENTS_WINDOW_DAYS
from tap_x_dm_sandbox.oauth import SandboxAuth
from tap_x_dm_sandbox.vocabulary import Vocabulary

#: Per brand: customers, conversations and days of history (events: `brand_events`).
BRAND_USERS = 24
BRAND_CONVERSATIONS = 40
BRAND_DAYS = 28  # inside /2/dm_events' 30 days: a full sync is every event, however long it takes
_SEED_STRIDE = 7919  # a prime: brand k's data seed is seed + 7919 * (k + 1)


@dataclass(frozen=True)
class BrandWorld:
    """One brand's inbox and the handlers that serve it."""

    name: str
    dataset: Dataset
    endpoints: DmEndpoints
    lookups: LookupEndpoints

    @property
    def account_id(self) -> str:
        """The brand account's user id (users[0] of its dataset)."""
        return self.dataset.users[0].id


class Brands:
    """K brand accounts, each a generated inbox of its own (same seed, same brands)."""

    def __init__(self, config: SandboxConfig, clock: Clock, data_lock: threading.RLock) -> None:
        self._clock = clock
        now_ms = config.now_ms if config.now_ms is not None else int(clock.time() * 1000)
        self._worlds: dict[str, BrandWorld] = {}
        for index in range(config.brands):
            name = f"brand-{index + 1:03d}"
            seed = config.seed + _SEED_STRIDE * (index + 1)
            dataset = _brand_dataset(seed, now_ms, config.brand_events, index)
            while dataset.users[0].id in self._worlds:  # two brands drew the same id
                seed += 1
                dataset = _brand_dataset(seed, now_ms, config.brand_events, index)
            self._worlds[dataset.users[0].id] = BrandWorld(
                name=name,
                dataset=dataset,
                endpoints=DmEndpoints(
                    config=config, dataset=dataset, clock=clock, data_lock=data_lock
                ),
                lookups=LookupEndpoints(
                    dataset,
                    user_fields_default=config.user_fields_default,
                    vocabulary=Vocabulary(config.vocabulary),
                ),
            )

    @property
    def account_ids(self) -> list[str]:
        """The brand accounts' user ids, brand-001 first."""
        return list(self._worlds)

    def world_of(self, user_id: str) -> BrandWorld | None:
        """The brand whose account is `user_id`, if any."""
        return self._worlds.get(user_id)

    def visible_events(self, world: BrandWorld) -> int:
        """How many events GET /2/dm_events serves the brand now (its 30 days)."""
        min_ms = int(self._clock.time() * 1000) - DM_EVENTS_WINDOW_DAYS * DAY_MS
        ids, _ = world.dataset.page(
            viewer_id=world.account_id,
            conversation_id=None,
            below_id=None,
            limit=len(world.dataset) + 1,
            min_ms=min_ms,
            event_types=ALL_EVENT_TYPES,
        )
        return len(ids)

    def write_file(self, path: str, *, base_url: str, auth: SandboxAuth, revoked: int) -> None:
        """Mint each brand's OAuth 2.0 tokens, revoke the first `revoked`, write `path` (0600).

        The file: `{"base_url", "client_id", "brands": [{"name", "account_id",
        "username", "access_token", "refresh_token", "dm_events", "revoked"}]}`;
        `dm_events` is what a full sync of /2/dm_events loads.
        """
        brands: list[dict[str, Any]] = []
        for position, world in enumerate(self._worlds.values()):
            tokens = auth.issue_tokens(world.account_id)
            is_revoked = position < revoked
            if is_revoked:
                auth.revoke_access_tokens(world.account_id)
                auth.revoke_refresh_tokens(world.account_id)
            brands.append(
                {
                    "name": world.name,
                    "account_id": world.account_id,
                    "username": world.dataset.users[0].username,
                    "access_token": tokens["access_token"],
                    "refresh_token": tokens.get("refresh_token"),
                    "dm_events": self.visible_events(world),
                    "revoked": is_revoked,
                }
            )
        document = {"base_url": base_url, "client_id": auth.public_client_id, "brands": brands}
        target = Path(path)
        handle, temporary = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
            out.write("\n")
        Path(temporary).chmod(0o600)
        Path(temporary).replace(target)


def _brand_dataset(seed: int, now_ms: int, events: int, index: int) -> Dataset:
    dataset = Dataset.generate(
        seed=seed,
        now_ms=now_ms,
        users=BRAND_USERS,
        conversations=min(BRAND_CONVERSATIONS, events),
        days=BRAND_DAYS,
        events=events,
    )
    brand = dataset.users[0]
    renamed = dataclasses.replace(
        brand, username=f"brand_{index + 1:03d}", name=f"Brand {index + 1:03d} Support"
    )
    dataset._users = (renamed, *dataset._users[1:])  # same id, so the index stays true
    return dataset


class TimedAppFaults:
    """App-wide faults on between two times (seconds after start, by the sandbox clock)."""

    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self._clock = clock
        self._started = clock.time()
        self._windows = {
            "usage_capped": config.usage_capped_between,
            "credits_depleted": config.credits_depleted_between,
        }

    def active(self, kind: str) -> bool:
        """Whether `kind` (usage_capped, credits_depleted) is on now."""
        window = self._windows.get(kind)
        if window is None:
            return False
        elapsed = self._clock.time() - self._started
        return window[0] <= elapsed < window[1]
