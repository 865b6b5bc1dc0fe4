"""tap-x-dm's fleet on Dagster: many X accounts, each at its own quota (docs/fleet.md)."""
