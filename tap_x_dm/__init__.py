"""tap-x-dm: a Singer tap for X API v2 Direct Message events."""

import gc
import sys
from collections.abc import Sequence
from typing import Any

__version__ = "0.4.1"


def main() -> None:
    """The `tap-x-dm` command: the SDK's CLI, with the start-up objects out of the GC's way.

    Importing singer-sdk and its dependencies leaves some 55,000 long-lived objects that
    the cyclic garbage collector tracks: it would walk them again and again while they
    are imported, and once more at exit. `gc.freeze()` moves them out of its reach (the
    use it is documented for). About 0.1 s of CPU per run (docs/benchmarks.md); what the
    tap does is unchanged, and objects created later are collected as usual.
    """
    gc.disable()
    try:
        from tap_x_dm.run.log_lines import quiet_sdk_lines
        from tap_x_dm.tap import TapXDM
    finally:
        gc.freeze()
        gc.enable()
    quiet_sdk_lines(discovering="--discover" in sys.argv[1:])
    TapXDM.cli()


def auth_main(argv: Sequence[str] | None = None, **options: Any) -> int:
    """The `tap-x-dm-auth` command: authorise an account, or `xchat-export` its XChat keys.

    The subcommand is chosen here, above both, so `auth/` never imports `chat/` (whose
    requests `auth/` signs).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["xchat-export"]:  # the owner's one-time XChat key export
        from tap_x_dm.chat import export

        options.setdefault("out", sys.stdout)
        options.setdefault("err", sys.stderr)
        return export.main(args[1:], **options)
    from tap_x_dm.auth.authorize import main as authorize

    return authorize(args, **options)
