"""The fleet's memory between runs: who is due, who is stopped, whether the app is paused.

One JSON file, `output_dir/fleet_state.json`, rewritten atomically after each
account's run (under a lock: several accounts finish at once). From each run's
outcome it keeps the account's next run time:

- `budget_spent` on the rate limit: its `next_request_at` (its own window, no margin);
  on the cost cap: the next UTC day;
- `complete`: `complete_interval_seconds` later (new messages arrive);
- `stopped_account`: never, until its credentials file or token store changes
  (re-authorised with `tap-x-dm-auth`): the others go on;
- `stopped_app`: the whole fleet pauses `app_pause_seconds`, then one account
  probes; the fleet resumes when a run gets past the app-wide fault;
- `failed`: retried after `failed_retry_seconds`, doubled per failure in a row.

And what the fleet spent per UTC day, against `daily_cost_cap_usd`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tap_x_dm_fleet.accounts import Account, Fleet
from tap_x_dm_fleet.runner import RunOutcome

_MAX_RETRY = 3600.0
_DAY = 86_400.0


def parse_utc(text: str) -> float:
    """`2026-12-06T10:15:00Z` as epoch seconds."""
    return (
        dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()
    )


def utc_day(epoch: float) -> str:
    """The UTC date of `epoch`, `2026-12-06`."""
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).strftime("%Y-%m-%d")


def iso(epoch: float) -> str:
    """Epoch seconds as `2026-12-06T10:15:00Z`."""
    return dt.datetime.fromtimestamp(round(epoch), tz=dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def next_utc_midnight(epoch: float) -> float:
    """The start of the next UTC day."""
    return (epoch // _DAY + 1) * _DAY


class FleetSchedule:
    """`fleet_state.json`: per account its next run, status and totals; the fleet's pause."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.path = fleet.output_dir / "fleet_state.json"
        self._lock = threading.Lock()
        try:
            self.data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            self.data = {"version": 1, "accounts": {}, "paused_until": None, "spent_usd": {}}

    # -- reading -------------------------------------------------------------------------

    def entry(self, name: str) -> dict[str, Any]:
        """The account's record (created empty: due now)."""
        accounts: dict[str, dict[str, Any]] = self.data["accounts"]
        return accounts.setdefault(
            name,
            {
                "status": None,
                "next_run_at": 0.0,
                "next_request_at": None,
                "runs": 0,
                "failures": 0,
                "records": {},
                "requests": {},
                "cost_usd": 0.0,
                "error": None,
                "stopped_credentials_mtime": None,
                "running": False,
            },
        )

    def spent_today(self, now: float) -> float:
        """What the fleet spent this UTC day."""
        return float(self.data["spent_usd"].get(utc_day(now), 0.0))

    def paused(self, now: float) -> bool:
        """Whether the app is paused (a stopped_app) and its pause has not run out."""
        until = self.data.get("paused_until")
        return until is not None and now < until

    def _stopped(self, account: Account, entry: dict[str, Any]) -> bool:
        if entry["status"] != "stopped_account":
            return False
        return account.credentials_mtime() <= (entry["stopped_credentials_mtime"] or 0.0)

    def due(self, now: float) -> list[Account]:
        """Accounts to run now, soonest first, at most `batch_size` (one probe while paused)."""
        if self.paused(now):
            return []
        cap = self.fleet.daily_cost_cap_usd
        if cap is not None and self.spent_today(now) >= cap:
            return []
        ready = []
        for account in self.fleet.accounts:
            entry = self.entry(account.name)
            if not account.enabled or entry["running"] or self._stopped(account, entry):
                continue
            if entry["next_run_at"] <= now:
                ready.append((entry["next_run_at"], account))
        ready.sort(key=lambda pair: pair[0])
        accounts = [account for _, account in ready]
        if self.data.get("paused_until") is not None:  # the pause ran out: one probe first
            if any(e["running"] for e in self.data["accounts"].values()):
                return []  # the probe (or a run from before the pause) has not ended
            prober = self.data.get("paused_by")
            accounts.sort(key=lambda a: a.name != prober)
            return accounts[:1]
        return accounts[: self.fleet.batch_size]

    def next_wake(self, now: float) -> float | None:
        """When something may next be due (None: nothing ever will, every account is done)."""
        if self.paused(now):
            return float(self.data["paused_until"])
        cap = self.fleet.daily_cost_cap_usd
        if cap is not None and self.spent_today(now) >= cap:
            return next_utc_midnight(now)
        times = [
            self.entry(a.name)["next_run_at"]
            for a in self.fleet.accounts
            if a.enabled
            and not self.entry(a.name)["running"]
            and not self._stopped(a, self.entry(a.name))
        ]
        return min(times, default=None)

    def cost_allowance(self, account: Account, now: float, running: int) -> float | None:
        """`max_cost_usd` for its run: its own cap left today, and its share of the fleet's."""
        limits = []
        day = utc_day(now)
        if account.cost_cap_usd is not None:
            spent = float(self.entry(account.name).get("spent_usd", {}).get(day, 0.0))
            limits.append(account.cost_cap_usd - spent)
        cap = self.fleet.daily_cost_cap_usd
        if cap is not None:
            limits.append((cap - self.spent_today(now)) / max(1, running))
        return max(0.0, min(limits)) if limits else None

    # -- writing -------------------------------------------------------------------------

    def claim(self, names: list[str]) -> list[str]:
        """Claim for this run the accounts no other run holds (one run per account)."""
        with self._locked():
            claimed = [name for name in names if not self.entry(name)["running"]]
            for name in claimed:
                self.entry(name)["running"] = True
            self._save()
            return claimed

    def release(self, names: list[str]) -> None:
        """Give back accounts claimed but not run."""
        with self._locked():
            for name in names:
                self.entry(name)["running"] = False
            self._save()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's threads and other processes (one file lock), on fresh data."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, (self.path.parent / ".fleet_state.lock").open("a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            self._reload()
            yield

    def _reload(self) -> None:
        try:
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return

    def record(self, account: Account, outcome: RunOutcome, now: float) -> None:
        """Fold one run's outcome into the schedule and save."""
        with self._locked():
            entry = self.entry(account.name)
            if entry["next_request_at"] and entry["status"] == "budget_spent":
                # How late this run started after its window opened (the benchmark's figure).
                late = now - outcome.seconds - parse_utc(entry["next_request_at"])
                entry["late_seconds"] = [*entry.get("late_seconds", []), round(late, 2)]
            entry.update(running=False, status=outcome.status, error=outcome.error)
            entry["next_request_at"] = outcome.next_request_at
            entry["runs"] += 1
            for key in ("records", "requests"):
                for name, count in getattr(outcome, key).items():
                    entry[key][name] = entry[key].get(name, 0) + count
            entry["cost_usd"] = round(entry["cost_usd"] + outcome.cost_usd, 4)
            entry["cpu_seconds"] = round(entry.get("cpu_seconds", 0.0) + outcome.cpu_seconds, 3)
            entry.setdefault("first_run_at", round(now - outcome.seconds, 3))
            if outcome.status == "complete":
                entry.setdefault("completed_at", round(now, 3))
            day = utc_day(now)
            spent = entry.setdefault("spent_usd", {})
            spent[day] = round(spent.get(day, 0.0) + outcome.cost_usd, 4)
            fleet_spent = self.data["spent_usd"]
            fleet_spent[day] = round(fleet_spent.get(day, 0.0) + outcome.cost_usd, 4)
            entry["next_run_at"] = self._next_run(account, entry, outcome, now)
            pause_over = self.data.get("paused_until") is not None and not self.paused(now)
            if outcome.status != "stopped_app" and pause_over:  # the probe got past the fault
                self.data.update(paused_until=None, paused_by=None, pause_reason=None)
            self._save()

    def _next_run(
        self, account: Account, entry: dict[str, Any], outcome: RunOutcome, now: float
    ) -> float:
        fleet = self.fleet
        entry["failures"] = entry["failures"] + 1 if outcome.status == "failed" else 0
        if outcome.status == "budget_spent":
            if outcome.next_request_at:
                return parse_utc(outcome.next_request_at)
            return next_utc_midnight(now)  # its cost cap: tomorrow
        if outcome.status == "complete":
            return now + fleet.complete_interval_seconds
        if outcome.status == "stopped_account":
            entry["stopped_credentials_mtime"] = account.credentials_mtime()
            return now
        if outcome.status == "stopped_app":
            self.data.update(
                paused_until=now + fleet.app_pause_seconds,
                paused_by=account.name,
                pause_reason=outcome.error,
            )
            return now + fleet.app_pause_seconds
        retry: float = fleet.failed_retry_seconds * 2.0 ** (int(entry["failures"]) - 1)
        return now + min(retry, _MAX_RETRY)

    def release_stale_claims(self) -> None:
        """Clear `running` left by a driver that died (call once when a driver starts)."""
        with self._locked():
            for entry in self.data["accounts"].values():
                entry["running"] = False
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=".fleet_state.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(self.data, out, indent=1, sort_keys=True)
        Path(name).replace(self.path)
