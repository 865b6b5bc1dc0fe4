"""`accounts.yml`: the fleet's accounts, checked against `accounts.schema.json`.

The file says where each account's secrets live (environment variable names, a
credentials file), never the secrets, so it can be committed. Every problem is
one line naming the file and the place (`accounts[3].credentials_env.client_id`),
and no line ever shows a string value from the file: a token pasted in the wrong
place must not reach a log.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError

SECRET_SETTINGS = (
    "access_token",
    "refresh_token",
    "client_id",
    "client_secret",
    "consumer_key",
    "consumer_secret",
    "access_token_secret",
)


class AccountsError(Exception):
    """accounts.yml is wrong: `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Account:
    """One account of the fleet, its paths resolved against accounts.yml's folder."""

    name: str
    folder: Path
    credentials_file: Path | None
    credentials_env: dict[str, str]
    token_store: Path
    cost_cap_usd: float | None
    tap_config: dict[str, Any]
    enabled: bool = True

    def secrets(self) -> dict[str, str]:
        """The account's secret settings, read now (the file, then the environment wins)."""
        values: dict[str, str] = {}
        if self.credentials_file is not None:
            values.update(json.loads(self.credentials_file.read_text(encoding="utf-8")))
        for setting, variable in self.credentials_env.items():
            values[setting] = os.environ[variable]
        return values

    def credentials_mtime(self) -> float:
        """When its credentials last changed (a stopped account resumes after a change)."""
        paths = [p for p in (self.credentials_file, self.token_store) if p is not None]
        return max((p.stat().st_mtime for p in paths if p.exists()), default=0.0)


@dataclass(frozen=True)
class Fleet:
    """The fleet's limits and its accounts, in the file's order."""

    source: Path
    accounts: list[Account]
    concurrency: int = 4
    batch_size: int = 200
    daily_cost_cap_usd: float | None = None
    app_pause_seconds: float = 300.0
    complete_interval_seconds: float = 900.0
    failed_retry_seconds: float = 60.0
    run_idle_seconds: float = 60.0
    run_max_seconds: float = 3600.0
    tap_executable: str = "tap-x-dm"
    output_dir: Path = Path("output/fleet")
    tap_config: dict[str, Any] = field(default_factory=dict)
    #: `fleet.target`: a Singer target's command (none: JSON lines in each account's folder).
    target_command: list[str] = field(default_factory=list)
    target_env: dict[str, str] = field(default_factory=dict)

    def account(self, name: str) -> Account:
        """The account called `name` (KeyError if none)."""
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)


def _schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("accounts.schema.json").read_text("utf-8")
    return dict(json.loads(text))


def _where(error: ValidationError) -> str:
    where = ""
    for part in error.absolute_path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "(top level)"


def _describe(error: ValidationError) -> str:
    """The schema's complaint, without echoing a string value."""
    if error.validator == "additionalProperties" or error.validator == "required":
        return str(error.message)
    if "propertyNames" in error.absolute_schema_path:  # a key name: never a secret's value
        return f"{error.instance} is not an allowed key here"
    if error.validator == "anyOf" and error.path and len(error.path) == 2:
        return "needs credentials_file, credentials_env or token_store"
    if isinstance(error.instance, str):
        rule = error.validator_value
        return f"does not fit the rule {error.validator}: {rule}"
    return str(error.message)


def load_fleet(path: str | os.PathLike[str], *, check_secrets: bool = True) -> Fleet:
    """Read and check accounts.yml; raise `AccountsError` with one line per problem.

    `check_secrets`: also check that every named environment variable is set and
    every credentials file is a readable JSON object of secret settings.
    """
    source = Path(path)
    label = source.name
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AccountsError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise AccountsError([f"{label}: not valid YAML{at}"]) from None
    validator = Draft202012Validator(_schema())
    problems = [
        f"{label}: {_where(e)}: {_describe(e)}"
        for e in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]
    if problems:
        raise AccountsError(problems)
    base = source.parent.resolve()
    fleet_doc = document.get("fleet", {})
    output_dir = base / fleet_doc.get("output_dir", "output/fleet")
    accounts = []
    seen: set[str] = set()
    for index, raw in enumerate(document["accounts"]):
        name = raw["name"]
        if name in seen:
            problems.append(f"{label}: accounts[{index}].name: {name} is used twice")
        seen.add(name)
        folder = output_dir / "accounts" / name
        account = Account(
            name=name,
            folder=folder,
            credentials_file=base / raw["credentials_file"] if "credentials_file" in raw else None,
            credentials_env=dict(raw.get("credentials_env", {})),
            token_store=base / raw.get("token_store", folder / "tokens.json"),
            cost_cap_usd=raw.get("cost_cap_usd"),
            tap_config=dict(raw.get("tap_config", {})),
            enabled=raw.get("enabled", True),
        )
        if check_secrets and account.enabled:
            problems.extend(_secret_problems(f"{label}: accounts[{index}]", account))
        accounts.append(account)
    if problems:
        raise AccountsError(problems)
    target = fleet_doc.get("target", {})
    tap = fleet_doc.get("tap_executable", "tap-x-dm")
    if "/" in tap:
        tap = str(base / tap)
    return Fleet(
        source=source,
        accounts=accounts,
        concurrency=fleet_doc.get("concurrency", 4),
        batch_size=fleet_doc.get("batch_size", 200),
        daily_cost_cap_usd=fleet_doc.get("daily_cost_cap_usd"),
        app_pause_seconds=fleet_doc.get("app_pause_seconds", 300.0),
        complete_interval_seconds=fleet_doc.get("complete_interval_seconds", 900.0),
        failed_retry_seconds=fleet_doc.get("failed_retry_seconds", 60.0),
        run_idle_seconds=fleet_doc.get("run_idle_seconds", 60.0),
        run_max_seconds=fleet_doc.get("run_max_seconds", 3600.0),
        tap_executable=tap,
        output_dir=output_dir,
        tap_config=dict(fleet_doc.get("tap_config", {})),
        target_command=list(target.get("command", [])),
        target_env=dict(target.get("env", {})),
    )


def _secret_problems(where: str, account: Account) -> list[str]:
    problems = [
        f"{where}.credentials_env.{setting}: the environment variable {variable} is not set"
        for setting, variable in account.credentials_env.items()
        if not os.environ.get(variable)
    ]
    path = account.credentials_file
    if path is not None:
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            return [*problems, f"{where}.credentials_file: cannot read {path}: {exc.strerror}"]
        except json.JSONDecodeError as exc:
            return [*problems, f"{where}.credentials_file: {path} is not JSON (line {exc.lineno})"]
        if not isinstance(values, dict):
            return [*problems, f"{where}.credentials_file: {path} is not a JSON object"]
        unknown = sorted(set(values) - set(SECRET_SETTINGS))
        if unknown:
            problems.append(
                f"{where}.credentials_file: {path} has keys that are not secret settings: "
                f"{', '.join(unknown)} (allowed: {', '.join(SECRET_SETTINGS)})"
            )
        bad = sorted(k for k, v in values.items() if not isinstance(v, str))
        if bad:
            problems.append(f"{where}.credentials_file: {path}: {', '.join(bad)} must be strings")
    return problems
