"""`tap-x-dm-sandbox`: run the X API sandbox in the foreground.

Scripts and CI start it with `--port 0` and read the FIRST stdout line to learn
the base URL, then `key=value` lines with the account and its credentials.
Request-log lines go to stderr. SIGINT or SIGTERM stop it cleanly. A bad flag
value is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from tap_x_dm_sandbox import Sandbox, SandboxConfig
from tap_x_dm_sandbox.brand_flags import check_brand_flags
from tap_x_dm_sandbox.flags import STDOUT_KEYS, build_parser, config_from_args

__all__ = ["STDOUT_KEYS", "build_parser", "config_from_args", "main"]


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _build(parser: argparse.ArgumentParser, config: SandboxConfig, quiet: bool) -> Sandbox:
    """Build and start the sandbox; a problem with the flags' values is a one-line exit 2."""
    try:
        return Sandbox(config, echo_log=None if quiet else _stderr).start()
    except FileNotFoundError:
        parser.error(f"--events-file {config.events_file}: no such file")
    except json.JSONDecodeError as exc:
        parser.error(f"--events-file {config.events_file}: not valid JSON ({exc})")
    except (ValueError, KeyError, TypeError) as exc:
        where = f"--events-file {config.events_file}: " if config.events_file else ""
        parser.error(f"{where}{exc}")
    except OSError as exc:  # the port is taken, the host is not ours, the log is unwritable
        parser.error(f"cannot start on {config.host}:{config.port}: {exc.strerror or exc}")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_brand_flags(parser, args)
    config = config_from_args(args)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sandbox = _build(parser, config, args.quiet)
        try:
            account = sandbox.account
            oauth1 = sandbox.auth.oauth1_credentials(account.id)
            values = {
                "account_id": account.id,
                "account_username": account.username,
                "access_token": sandbox.access_token(),
                "empty_user_id": sandbox.empty_user_id(),
                "oauth2_public_client_id": sandbox.auth.public_client_id,
                "oauth2_confidential_client_id": sandbox.auth.confidential_client_id,
                "oauth2_confidential_client_secret": sandbox.auth.confidential_client_secret,
                **{f"oauth1_{key}": value for key, value in oauth1.items()},
                "events": str(len(sandbox.dataset)),
            }
            lines = [sandbox.base_url, *(f"{key}={values[key]}" for key in STDOUT_KEYS)]
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
            _stderr(f"tap-x-dm-sandbox serving on {sandbox.base_url} (Ctrl-C to stop)")
            while not stop.wait(0.5):
                pass
            _stderr("tap-x-dm-sandbox stopping")
        finally:
            sandbox.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
