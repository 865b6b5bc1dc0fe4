"""Allow `python -m tap_x_dm`."""

from tap_x_dm.tap import TapXDM

TapXDM.cli()
