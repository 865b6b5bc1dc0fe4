"""Inside one Dagster run: start each account the moment it is due, N at a time.

A Dagster run costs more than an account's run to budget (docs/benchmarks.md), so
one Dagster run drives many account runs: it starts its batch, then every account
that comes due (its `next_request_at`) while it lasts, so no account waits for
another's run to end, only for a free slot of the `concurrency`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from tap_x_dm_fleet.accounts import Account, Fleet
from tap_x_dm_fleet.runner import RunOutcome, run_account
from tap_x_dm_fleet.schedule import FleetSchedule, iso

Log = Callable[[str, bool], None]


class FleetDrive:
    """The loop of a `fleet_batch` run (see the module docstring)."""

    def __init__(self, fleet: Fleet, schedule: FleetSchedule, log: Log) -> None:
        self.fleet = fleet
        self.schedule = schedule
        self.log = log
        self.clock: Callable[[], float] = time.time

    def run(self, names: list[str]) -> dict[str, int]:
        """Run `names`, then whatever comes due; return the count of each status."""
        fleet, schedule = self.fleet, self.schedule
        started = self.clock()
        pending = [fleet.account(n) for n in schedule.claim(names)]
        counts: dict[str, int] = {}
        inflight: dict[Future[RunOutcome], Account] = {}
        waiting_logged = 0.0
        with ThreadPoolExecutor(max_workers=fleet.concurrency) as pool:
            while True:
                now = self.clock()
                while pending and len(inflight) < fleet.concurrency and not schedule.paused(now):
                    account = pending.pop(0)
                    running = max(1, len(inflight) + 1)
                    allowance = schedule.cost_allowance(account, now, running)
                    inflight[pool.submit(self._one, account, allowance)] = account
                if pending and schedule.paused(now):  # a stopped_app: give them back
                    schedule.release([a.name for a in pending])
                    pending = []
                over = now - started >= fleet.run_max_seconds
                free = fleet.concurrency - len(inflight) - len(pending)
                if not over and free > 0:
                    due = [a.name for a in schedule.due(now)][:free]
                    if due:
                        pending += [fleet.account(n) for n in schedule.claim(due)]
                        if pending:
                            continue
                wake = schedule.next_wake(now)
                if not inflight:
                    if over or wake is None or wake - now > fleet.run_idle_seconds:
                        return counts
                    if now - waiting_logged > 30:
                        what = "the app's pause" if schedule.paused(now) else "the next account"
                        self.log(f"fleet run: waiting for {what} until {iso(wake)}", False)
                        waiting_logged = now
                timeout = 1.0 if wake is None else min(1.0, max(0.05, wake - now))
                if len(inflight) >= fleet.concurrency:
                    timeout = 1.0  # no free slot: only a run's end changes anything
                if not inflight:  # `wait` on nothing returns at once
                    time.sleep(timeout)
                    continue
                done, _ = wait(inflight, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    inflight.pop(future)
                    outcome = future.result()
                    counts[outcome.status] = counts.get(outcome.status, 0) + 1

    def _one(self, account: Account, allowance: float | None) -> RunOutcome:
        try:
            outcome = run_account(self.fleet, account, max_cost_usd=allowance)
        except Exception as exc:  # its secrets went missing, the tap is not installed
            outcome = RunOutcome(account.name, 1, "failed", error=f"{type(exc).__name__}: {exc}")
        self.schedule.record(account, outcome, self.clock())
        self.log(outcome.line(), outcome.status.startswith("stopped"))
        return outcome
