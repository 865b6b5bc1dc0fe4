"""One account's run to budget: `tap-x-dm | target`, no Meltano, in the account's own folder.

The folder holds everything the account owns: `config.json` (no secret: the secrets
go to the tap's environment only, `--config ENV`), `state.json`, `tokens.json`
(the rotating OAuth 2.0 tokens, unless accounts.yml puts them elsewhere),
`summary.json` (the tap's `run_summary_path`), `locks/` (the tap's run lock), `tap.log`
and `records/` (the target's output). Nothing is shared between accounts, so
accounts run side by side without a catalog or lock file in common.

The target is `singer_files`, in this process: a second process per account
would double the fleet's memory for a JSONL writer.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tap_x_dm_fleet.accounts import Account, Fleet
from tap_x_dm_fleet.singer_files import SingerFilesTarget

#: The tap's exit codes (README, "Chaining runs"): who must act.
EXIT_STATUS = {0: "complete", 3: "stopped_account", 4: "stopped_app", 1: "failed"}


@dataclass
class RunOutcome:
    """How one account's run ended: the tap's summary file, or what replaced it."""

    account: str
    exit_code: int
    status: str
    next_request_at: str | None = None
    reason: str | None = None
    requests: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    error: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def line(self) -> str:
        """One line for the log."""
        then = f", next at {self.next_request_at}" if self.next_request_at else ""
        why = f" ({self.reason})" if self.reason else ""
        error = f": {self.error}" if self.error else ""
        return (
            f"{self.account}: {self.status}{why}{then}, {sum(self.requests.values())} request(s), "
            f"{sum(self.records.values())} record(s), ${self.cost_usd:.2f}, "
            f"exit {self.exit_code}, {self.seconds:.1f} s{error}"
        )


def tap_config(fleet: Fleet, account: Account, *, max_cost_usd: float | None) -> dict[str, Any]:
    """The account's tap config (no secret): fleet settings, its own, then the fleet's rules."""
    folder = account.folder
    config: dict[str, Any] = {**fleet.tap_config, **account.tap_config}
    config.update(
        token_store_path=str(account.token_store),
        run_summary_path=str(folder / "summary.json"),
        run_lock_dir=str(folder / "locks"),
        # Spend the window and exit: the sensor brings the account back at next_request_at.
        max_rate_limit_wait_seconds=0,
    )
    if max_cost_usd is not None:
        config["max_cost_usd"] = round(max_cost_usd, 4)
    return config


def _environment(secrets: dict[str, str]) -> dict[str, str]:
    """The tap's environment: ours without any TAP_X_DM_*, plus this account's secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_X_DM_")}
    for setting, value in secrets.items():
        env[f"TAP_X_DM_{setting.upper()}"] = value
    return env


def _refreshes(account: Account, secrets: dict[str, str]) -> bool:
    """Whether the account rotates OAuth 2.0 tokens (a token store), or uses a fixed token."""
    return account.token_store.exists() or bool({"refresh_token", "client_id"} & set(secrets))


def run_account(fleet: Fleet, account: Account, *, max_cost_usd: float | None) -> RunOutcome:
    """Run the tap once for `account` into its folder; return how it ended."""
    folder = account.folder
    (folder / "locks").mkdir(parents=True, exist_ok=True)
    (folder / "records").mkdir(exist_ok=True)
    secrets = account.secrets()
    config = tap_config(fleet, account, max_cost_usd=max_cost_usd)
    if not _refreshes(account, secrets):
        del config["token_store_path"]  # a fixed token (OAuth 1.0a, or a token without refresh)
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(config))
    state_path = folder / "state.json"
    command = [fleet.tap_executable, "--config", str(config_path), "--config", "ENV"]
    if state_path.exists():
        command += ["--state", str(state_path)]
    # The tap removes it too, but a tap that dies before (not installed, killed) must not
    # leave the last run's file to be read as this one's.
    (folder / "summary.json").unlink(missing_ok=True)
    started = time.monotonic()
    target_error = None
    with (folder / "tap.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 (the command is the fleet's own tap)
            command, stdout=subprocess.PIPE, stderr=log, env=_environment(secrets), cwd=folder
        )
        assert process.stdout is not None
        with process.stdout:
            if fleet.target_command:
                target_error = _pipe_to_target(fleet, account, process.stdout, state_path)
            else:
                SingerFilesTarget(folder / "records", state_path).consume(process.stdout)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    outcome = _read_summary(account.name, folder / "summary.json", process.returncode)
    if target_error is not None:
        outcome.status, outcome.error = "failed", target_error
    outcome.seconds = time.monotonic() - started
    outcome.cpu_seconds = usage.ru_utime + usage.ru_stime  # (ru_maxrss would be the fork's)
    return outcome


def _pipe_to_target(fleet: Fleet, account: Account, tap_out: IO[bytes], state: Path) -> str | None:
    """`tap | target` (`fleet.target.command`): the target's last state line is the state.

    The target reads the tap's stdout directly; what it prints is the state it has
    committed (Singer), so the last line is kept, atomically. Returns an error line when
    the target fails.
    """
    folder = account.folder
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_X_DM_")}
    env.update({k: v.replace("{account}", account.name) for k, v in fleet.target_env.items()})
    with (folder / "target.log").open("ab") as log:
        target = subprocess.Popen(  # noqa: S603 (the fleet's own target)
            fleet.target_command,
            stdin=tap_out,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=fleet.source.parent,  # its paths read as accounts.yml's do
        )
        tap_out.close()  # the target holds the pipe: if it dies, the tap gets SIGPIPE
        assert target.stdout is not None
        last = b""
        with target.stdout:
            for line in target.stdout:
                if line.strip():
                    last = line
        code = target.wait()
    if last:
        temporary = state.with_name(".state.json.tmp")
        temporary.write_bytes(last)
        temporary.replace(state)
    return None if code == 0 else f"the target exited {code} (see {folder / 'target.log'})"


def _read_summary(name: str, path: Path, exit_code: int) -> RunOutcome:
    """The tap's run summary; without one (killed, or too early) the exit code says."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        status = EXIT_STATUS.get(exit_code, "failed")
        if exit_code == 0:  # no summary though it ended well: the tap is older than 0.4
            status = "failed"
        return RunOutcome(name, exit_code, status, error=f"no run summary (exit {exit_code})")
    return RunOutcome(
        account=name,
        exit_code=exit_code,
        status=str(summary["status"]),
        next_request_at=summary.get("next_request_at"),
        reason=summary.get("reason"),
        requests=dict(summary.get("requests", {})),
        records=dict(summary.get("records", {})),
        cost_usd=float(summary.get("cost_usd", 0.0)),
        error=summary.get("error"),
    )
