#!/usr/bin/env bash
# The project's checks, as CI runs them: lint, types, the default test tier, the slow tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy tap_x_dm sandbox/tap_x_dm_sandbox
# The fleet (orchestrate/dagster) against its own virtual environment (Dagster 1.13).
bash orchestrate/dagster/install.sh
(cd orchestrate/dagster && MYPYPATH=. ../../.venv/bin/mypy --config-file ../../pyproject.toml \
  --python-executable .venv/bin/python -p tap_x_dm_fleet)
# The default tier, then the slow tier (Meltano + PostgreSQL, kills, large data sets).
.venv/bin/pytest "$@"
.venv/bin/pytest -m slow "$@"
