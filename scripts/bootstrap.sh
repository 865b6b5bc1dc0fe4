#!/usr/bin/env bash
# Create .venv with the tap, its tests and linters, and .venv-meltano with Meltano (kept apart:
# Meltano pins its own dependencies). Idempotent; needs only the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test,lint,report]"
# The sandbox (its own distribution, sandbox/) that the demo, the tests and the benchmark run against.
.venv/bin/python -m pip install --quiet -e "./sandbox[test]"
if [ ! -x .venv-meltano/bin/meltano ]; then
  "$PYTHON" -m venv .venv-meltano
  .venv-meltano/bin/python -m pip install --quiet --upgrade pip
  .venv-meltano/bin/python -m pip install --quiet "meltano>=4.4,<5"
fi
