#!/usr/bin/env bash
# The fleet's own virtual environment, orchestrate/dagster/.venv, from requirements.txt
# (idempotent: nothing to do when the pins are installed already).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
stamp=.venv/.requirements.txt
if [ -x .venv/bin/python ] && cmp -s requirements.txt "$stamp"; then exit 0; fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
cp requirements.txt "$stamp"
