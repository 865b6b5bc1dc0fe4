#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: install the tap and Meltano, start the X API
# sandbox, run `meltano run tap-x-dm target-jsonl` against it, print rows per stream.
#
#   bash scripts/demo.sh            # 15 requests per 20 s window: shows one rate-limit wait
#   DEMO_RATE_WINDOW=900 bash ...   # X's real window (15 minutes per 15 requests)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

bash scripts/bootstrap.sh
MELTANO=.venv-meltano/bin/meltano

mkdir -p .sandbox
# The sandbox derives its history from a seed and an end time; keeping the end time makes
# a second demo run see the same account, so Meltano's bookmark means something.
[ -s .sandbox/now_ms ] || "$PYTHON" -c 'import time; print(int(time.time() * 1000))' >.sandbox/now_ms
sandbox_out=.sandbox/sandbox.out
rm -f .sandbox/requests.jsonl
.venv/bin/tap-x-dm-sandbox --host 127.0.0.1 --port 0 --quiet --now-ms "$(cat .sandbox/now_ms)" \
  --rate-window "${DEMO_RATE_WINDOW:-20}" --request-log .sandbox/requests.jsonl \
  >"$sandbox_out" 2>.sandbox/sandbox.err &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q '^access_token=' "$sandbox_out" 2>/dev/null && break
  sleep 0.1
done
base_url=$(head -n 1 "$sandbox_out")
value() { grep "^$1=" "$sandbox_out" | head -n 1 | cut -d= -f2-; }
echo "Sandbox of the X API at $base_url (account @$(value account_username), id $(value account_id))"

export TAP_X_DM_API_URL="$base_url"
export TAP_X_DM_ACCESS_TOKEN="$(value access_token)"
rm -rf output && mkdir -p output
"$MELTANO" install
"$MELTANO" run tap-x-dm target-jsonl

echo
shopt -s nullglob
files=(output/*.jsonl)
if [ ${#files[@]} -eq 0 ]; then
  echo "No new rows: Meltano's state held the bookmark, and nothing newer was found."
else
  echo "Rows loaded by target-jsonl (one file per stream):"
  for file in "${files[@]}"; do
    printf '  %-32s %6d rows\n' "$file" "$(wc -l <"$file")"
  done
fi
requests=$(grep -c '"path"' .sandbox/requests.jsonl || true)
echo "Requests made to the sandbox: $requests (log: .sandbox/requests.jsonl)"
echo "Run it again: Meltano keeps the bookmark, so the next run reads only new events."
