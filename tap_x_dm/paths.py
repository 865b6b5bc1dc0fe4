"""Settings that name a file or folder: `~` and `~user` expanded, or one line saying why not.

Python cannot expand `~user` for a user the machine does not know (`RuntimeError`, a
traceback where the setting was first used); the config check names the setting instead,
before the first request.
"""

from __future__ import annotations

from pathlib import Path

from tap_x_dm.errors import ConfigError

#: The settings that are (or, for `xchat_key_blob`, may be) a path.
PATH_SETTINGS = (
    *("token_store_path", "archive_path", "run_summary_path", "run_lock_dir"),
    "xchat_key_blob",
)


def home_problem(name: str, value: str, *, secret: bool = False) -> str | None:
    """Why the `~` of `value` (setting `name`) cannot be expanded, or None.

    A secret's value is not shown (a base64 key blob never starts with `~`, but say
    nothing of it anyway).
    """
    if not value.startswith("~"):
        return None
    try:
        Path(value).expanduser()
    except RuntimeError:
        home = value.split("/", 1)[0]
        shown = f"{name} (a path starting with {home})" if secret else f"{name} {value}"
        if home == "~":
            why = "this user has no home folder to expand ~ to"
        else:
            why = f"{home[1:]} is not a user of this machine, so {home} cannot be expanded"
        return f"{shown}: {why}; write the path in full."
    return None


def user_path(name: str, value: str, *, secret: bool = False) -> Path:
    """`value` with `~` expanded.

    Raises:
        ConfigError: naming the setting, when `~` cannot be expanded.
    """
    problem = home_problem(name, value, secret=secret)
    if problem:
        raise ConfigError(problem)
    return Path(value).expanduser()
