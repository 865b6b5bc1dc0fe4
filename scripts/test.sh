#!/usr/bin/env bash
# The project's checks, as CI runs them: lint, types, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy tap_x_dm sandbox/tap_x_dm_sandbox
.venv/bin/pytest "$@"
