"""Allow `python -m tap_x_dm`."""

from tap_x_dm import main

main()
