"""Moved to `tap_x_dm.api.answers`; kept only until `sync/event_stream.py` imports it from there.

Delete this module when merging with the pass runner's rewrite (issue 20).
"""

from tap_x_dm.api.answers import page_shape_problem

__all__ = ["page_shape_problem"]
