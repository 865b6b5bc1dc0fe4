"""tap-x-dm: a Singer tap for X API v2 Direct Message events."""

__version__ = "0.2.0"
