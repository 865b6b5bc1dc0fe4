"""The Dagster code location: one dynamic partition per account, sensors on `next_request_at`.

Two jobs share the runner and the schedule (`fleet_state.json`):

- `account_sync`, partitioned by account (`tap_x_dm_accounts`): one account's run
  to budget per Dagster run. Its op is in the `tap_x_dm` pool (N runs across the
  fleet: `dagster instance concurrency set tap_x_dm N`), and `dagster.yaml` limits
  the run queue to one run per `tap_x_dm/account` tag value. The sensor
  `due_accounts` adds a partition for each new account and requests a run for each
  account whose time has come.
- `fleet_batch`: one Dagster run drives a batch of due accounts, `concurrency` at a
  time in threads (each a `tap-x-dm` process). A Dagster run costs more CPU than an
  account's run to budget (docs/benchmarks.md), so this is the default: the sensor
  `due_batch` requests one run per tick for every due account.

`TAP_X_DM_FLEET_ACCOUNTS` names accounts.yml (default: ./accounts.yml).
"""

import os
import time

from dagster import (
    Config,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    DynamicPartitionsDefinition,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    job,
    op,
    sensor,
)

from tap_x_dm_fleet.accounts import Account, Fleet, load_fleet
from tap_x_dm_fleet.drive import FleetDrive
from tap_x_dm_fleet.runner import RunOutcome, run_account
from tap_x_dm_fleet.schedule import FleetSchedule

ACCOUNTS = DynamicPartitionsDefinition(name="tap_x_dm_accounts")
POOL = "tap_x_dm"
ACCOUNT_TAG = "tap_x_dm/account"
_ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
SENSOR_SECONDS = int(os.environ.get("TAP_X_DM_FLEET_SENSOR_SECONDS", "15"))


def fleet_from_env() -> Fleet:
    """accounts.yml, checked (one line per problem, raised before any run)."""
    return load_fleet(os.environ.get("TAP_X_DM_FLEET_ACCOUNTS", "accounts.yml"))


def _run_one(
    context: OpExecutionContext, schedule: FleetSchedule, account: Account, running: int
) -> RunOutcome:
    allowance = schedule.cost_allowance(account, time.time(), running)
    outcome = run_account(schedule.fleet, account, max_cost_usd=allowance)
    schedule.record(account, outcome, time.time())
    log = context.log.warning if outcome.status.startswith("stopped") else context.log.info
    log(outcome.line())
    return outcome


@op(pool=POOL)
def sync_account(context: OpExecutionContext) -> None:
    """One account's run to budget (the run's partition is the account's name)."""
    fleet = fleet_from_env()
    schedule = FleetSchedule(fleet)
    account = fleet.account(context.partition_key)
    if not schedule.claim([account.name]):
        context.log.warning(f"{account.name}: a run of this account is in progress; skipped")
        return
    outcome = _run_one(context, schedule, account, fleet.concurrency)
    if outcome.status == "failed":
        raise RuntimeError(outcome.line())


@job(partitions_def=ACCOUNTS, tags={"tap_x_dm/kind": "account"})
def account_sync() -> None:
    """One account, one Dagster run."""
    sync_account()


class BatchConfig(Config):
    """The accounts one `fleet_batch` run drives."""

    accounts: list[str]


@op
def sync_batch(context: OpExecutionContext, config: BatchConfig) -> None:
    """Drive the fleet: the batch, then every account as it comes due, `concurrency` at a time.

    The run ends when no account is due within `run_idle_seconds`, or after
    `run_max_seconds`; the sensor starts the next one. While the app is paused no
    account starts (the run waits, or ends if the pause is longer than the idle time).
    """
    fleet = fleet_from_env()
    drive = FleetDrive(fleet, FleetSchedule(fleet), lambda line, warn: _log(context, line, warn))
    counts = drive.run(config.accounts)
    context.log.info(f"fleet run: {sum(counts.values())} account run(s): {counts}")


def _log(context: OpExecutionContext, line: str, warn: bool) -> None:
    (context.log.warning if warn else context.log.info)(line)


@job(tags={"tap_x_dm/kind": "batch"})
def fleet_batch() -> None:
    """A batch of accounts in one Dagster run."""
    sync_batch()


@sensor(job=account_sync, minimum_interval_seconds=SENSOR_SECONDS)
def due_accounts(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """A partition per new account; a run per account whose `next_request_at` has come."""
    fleet = fleet_from_env()
    schedule = FleetSchedule(fleet)
    known = set(context.instance.get_dynamic_partitions(ACCOUNTS.name or ""))
    new = [a.name for a in fleet.accounts if a.name not in known]
    due = schedule.due(time.time())
    requests = [
        RunRequest(
            partition_key=a.name,
            run_key=f"{a.name}@{schedule.entry(a.name)['next_run_at']}",
            tags={ACCOUNT_TAG: a.name},
        )
        for a in due
    ]
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[ACCOUNTS.build_add_request(new)] if new else [],
    )


@sensor(
    job=fleet_batch,
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=DefaultSensorStatus.STOPPED,
)
def due_batch(context: SensorEvaluationContext) -> RunRequest | SkipReason:
    """One `fleet_batch` run for every account due now."""
    fleet = fleet_from_env()
    schedule = FleetSchedule(fleet)
    now = time.time()
    active = context.instance.get_runs(
        filters=RunsFilter(job_name=fleet_batch.name, statuses=_ACTIVE), limit=1
    )
    if active:  # it starts every account that comes due while it lasts
        return SkipReason(f"fleet_batch run {active[0].run_id} is under way")
    due = schedule.due(now)
    if not due:
        return SkipReason(_why_idle(schedule, now))
    names = [a.name for a in due]
    key = ",".join(f"{n}@{schedule.entry(n)['next_run_at']}" for n in names)
    return RunRequest(
        run_key=key,
        run_config={"ops": {"sync_batch": {"config": {"accounts": names}}}},
        tags={"tap_x_dm/accounts": str(len(names))},
    )


def _why_idle(schedule: FleetSchedule, now: float) -> str:
    if schedule.paused(now):
        reason = schedule.data.get("pause_reason") or "stopped_app"
        return f"the X app is paused until {schedule.data['paused_until']:.0f}: {reason}"
    wake = schedule.next_wake(now)
    return "no account is due" + (f" before {wake:.0f}" if wake is not None else " (all done)")


defs = Definitions(
    jobs=[account_sync, fleet_batch],
    sensors=[due_accounts, due_batch],
)
