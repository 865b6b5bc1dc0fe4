"""Allow `python -m tap_x_dm_sandbox`."""

from tap_x_dm_sandbox.cli import main

raise SystemExit(main())
