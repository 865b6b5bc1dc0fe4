#!/usr/bin/env bash
# A fleet of brand accounts on Dagster, end to end, on a fresh clone: installs the tap and the
# sandbox (.venv) and Dagster (orchestrate/dagster/.venv), starts the sandbox with K brand
# accounts (8 s rate windows, 2 requests each, brand-001's grant revoked, X's usage cap for
# every account from 15 s to 35 s), runs them all through Dagster (in process, SQLite) until
# each is complete or stopped for its own reason, prints one line per account and writes
# output/fleet/summary.json.
#
#   bash scripts/fleet-demo.sh --accounts 20     # exit 0: every account complete, or stopped
#                                                # for its own reason (the revoked one)
#   FLEET_CONCURRENCY=8 FLEET_LIMIT=15 FLEET_WINDOW=120 FLEET_EVENTS=3000 FLEET_CAP=off \
#     FLEET_REVOKED=0 bash scripts/fleet-demo.sh --accounts 100     # the benchmark (K=100)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

accounts=20
while [ $# -gt 0 ]; do
  case "$1" in
    --accounts) accounts="$2"; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0" | cut -c3-; exit 0 ;;
    *) echo "usage: bash scripts/fleet-demo.sh [--accounts K]" >&2; exit 2 ;;
  esac
done
case "$accounts" in '' | *[!0-9]* | 0 | 1) echo "--accounts: a number >= 2" >&2; exit 2 ;; esac

# What the demo needs, and nothing else (no Meltano): the tap and the sandbox, then Dagster.
if [ ! -x .venv/bin/tap-x-dm ] || [ ! -x .venv/bin/tap-x-dm-sandbox ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e . -e ./sandbox
fi
bash orchestrate/dagster/install.sh
FLEET_PY=orchestrate/dagster/.venv/bin/python

out=output/fleet
rm -rf "$out"
mkdir -p "$out/secrets"
chmod 700 "$out/secrets"
cap_flag=(--usage-capped-between "${FLEET_CAP:-15,35}")
[ "${FLEET_CAP:-}" = off ] && cap_flag=()
sandbox_pid=""
cleanup() { if [ -n "$sandbox_pid" ]; then kill "$sandbox_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

.venv/bin/tap-x-dm-sandbox --port 0 --quiet --users 10 --conversations 20 --events 200 \
  --brands "$accounts" --brand-events "${FLEET_EVENTS:-600}" --brands-file "$out/secrets/brands.json" \
  --revoked-brands "${FLEET_REVOKED:-1}" --rate-limit "${FLEET_LIMIT:-2}" --rate-window "${FLEET_WINDOW:-8}" \
  --token-ttl 60 ${cap_flag[@]+"${cap_flag[@]}"} --request-log "$out/requests.jsonl" \
  >"$out/sandbox.out" 2>"$out/sandbox.err" &
sandbox_pid=$!
for _ in $(seq 1 600); do
  [ -s "$out/secrets/brands.json" ] && break
  kill -0 "$sandbox_pid" 2>/dev/null || { cat "$out/sandbox.err" >&2; exit 1; }
  sleep 0.1
done
[ -s "$out/secrets/brands.json" ] || { echo "the sandbox did not start" >&2; exit 1; }

# accounts.yml and one credentials file per account (mode 0600); no secret in accounts.yml.
FLEET_WINDOW="${FLEET_WINDOW:-8}" FLEET_LIMIT="${FLEET_LIMIT:-2}" "$FLEET_PY" - "$out" "${FLEET_CONCURRENCY:-4}" <<'PY'
import json, os, sys
from pathlib import Path
out, concurrency = Path(sys.argv[1]), int(sys.argv[2])
brands = json.loads((out / "secrets" / "brands.json").read_text())
lines = [
    f"# sandbox: window={os.environ['FLEET_WINDOW']} limit={os.environ['FLEET_LIMIT']} (read by bench_fleet.py)",
    "version: 1",
    "fleet:",
    f"  concurrency: {concurrency}",
    "  daily_cost_cap_usd: 10000",
    "  app_pause_seconds: 5",
    "  run_idle_seconds: 30",
    "  failed_retry_seconds: 2",
    "  tap_executable: ../../.venv/bin/tap-x-dm",
    "  output_dir: .",
    "  tap_config:",
    f"    api_url: {brands['base_url']}",
    "    max_retries: 2",
    "accounts:",
]
for brand in brands["brands"]:
    secret = out / "secrets" / f"{brand['name']}.json"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"client_id": brands["client_id"], "access_token": brand["access_token"],
                   "refresh_token": brand["refresh_token"]}, handle)
    lines += [f"  - name: {brand['name']}", f"    credentials_file: secrets/{brand['name']}.json",
              "    cost_cap_usd: 50"]
(out / "accounts.yml").write_text("\n".join(lines) + "\n")
PY

export PYTHONPATH="$PWD/orchestrate/dagster${PYTHONPATH:+:$PYTHONPATH}"
export TAP_X_DM_FLEET_SENSOR_SECONDS=1
"$FLEET_PY" -m tap_x_dm_fleet check "$out/accounts.yml"
started=$(date +%s)
status=0
"$FLEET_PY" -m tap_x_dm_fleet run "$out/accounts.yml" --until-done --measure \
  --deadline-seconds "${FLEET_DEADLINE:-600}" >"$out/fleet.log" 2>&1 || status=$?
echo "fleet: $accounts account(s) in $(( $(date +%s) - started )) s (log: $out/fleet.log)"
"$FLEET_PY" -m tap_x_dm_fleet report "$out/accounts.yml" --brands-file "$out/secrets/brands.json" \
  || status=1
exit "$status"
