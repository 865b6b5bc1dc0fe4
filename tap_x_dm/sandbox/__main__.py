"""Allow `python -m tap_x_dm.sandbox`."""

from tap_x_dm.sandbox.cli import main

raise SystemExit(main())
