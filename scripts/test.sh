#!/usr/bin/env bash
# The project's checks, as CI runs them: lint, types, the default test tier, the slow tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy tap_x_dm sandbox/tap_x_dm_sandbox
# The default tier, then the slow tier (Meltano + PostgreSQL, kills, large data sets).
.venv/bin/pytest "$@"
.venv/bin/pytest -m slow "$@"
