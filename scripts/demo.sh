#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: install the tap and Meltano, start the X API
# sandbox, run `meltano run tap-x-dm target-jsonl` against it, print rows per stream.
#
#   bash scripts/demo.sh              # 15 requests per 20 s window: shows one rate-limit wait
#   DEMO_RATE_WINDOW=900 bash ...     # X's real window (15 minutes per 15 requests)
#   bash scripts/demo.sh --postgres   # into a throwaway PostgreSQL, then the dbt models:
#                                     # meltano run x-dm-to-postgres-models
#   DEMO_KEEP_POSTGRES=1 bash scripts/demo.sh --postgres   # leave the server running to explore
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

mode=jsonl
case "${1:-}" in
  "") ;;
  --postgres) mode=postgres ;;
  -h | --help) sed -n '2,9p' "$0" | cut -c3-; exit 0 ;;
  *) echo "usage: bash scripts/demo.sh [--postgres]" >&2; exit 2 ;;
esac

# The PostgreSQL server's programs (initdb, pg_ctl): Debian keeps them off PATH.
pg_bin=""
if [ "$mode" = postgres ]; then
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    if [ -x "$dir/initdb" ]; then pg_bin=$dir; break; fi
  done
  if [ -z "$pg_bin" ] && command -v initdb >/dev/null 2>&1; then
    pg_bin=$(dirname "$(command -v initdb)")
  fi
  if [ -z "$pg_bin" ]; then
    echo "PostgreSQL server not found (initdb): install it with 'sudo apt-get install -y postgresql' (Debian, Ubuntu) or 'brew install postgresql@15' (macOS), then run this again." >&2
    exit 1
  fi
fi

bash scripts/bootstrap.sh
MELTANO=.venv-meltano/bin/meltano

sandbox_pid=""
pg_root=""
as_postgres=()
cleanup() {
  if [ -n "$sandbox_pid" ]; then kill "$sandbox_pid" 2>/dev/null || true; fi
  if [ -n "$pg_root" ] && [ "${DEMO_KEEP_POSTGRES:-0}" != 1 ]; then
    ${as_postgres[@]+"${as_postgres[@]}"} "$pg_bin/pg_ctl" -D "$pg_root/data" -m fast stop \
      >/dev/null 2>&1 || true
    rm -rf "$pg_root"
  fi
}
trap cleanup EXIT

mkdir -p .sandbox
# The sandbox derives its history from a seed and an end time; keeping the end time makes
# a second demo run see the same account, so Meltano's bookmark means something.
[ -s .sandbox/now_ms ] || "$PYTHON" -c 'import time; print(int(time.time() * 1000))' >.sandbox/now_ms
now_ms=$(cat .sandbox/now_ms)
# --postgres starts from a new database each time: its history ends now, so the models'
# recency test (newest event at most 2 days old) holds whenever the demo runs.
[ "$mode" = jsonl ] || now_ms=$("$PYTHON" -c 'import time; print(int(time.time() * 1000))')
sandbox_out=.sandbox/sandbox.out
rm -f .sandbox/requests.jsonl "$sandbox_out" # a previous run's output would be read as this one's
.venv/bin/tap-x-dm-sandbox --host 127.0.0.1 --port 0 --quiet --now-ms "$now_ms" \
  --rate-window "${DEMO_RATE_WINDOW:-20}" --request-log .sandbox/requests.jsonl \
  >"$sandbox_out" 2>.sandbox/sandbox.err &
sandbox_pid=$!
for _ in $(seq 1 100); do
  grep -q '^access_token=' "$sandbox_out" 2>/dev/null && break
  sleep 0.1
done
base_url=$(head -n 1 "$sandbox_out")
value() { grep "^$1=" "$sandbox_out" | head -n 1 | cut -d= -f2-; }
echo "Sandbox of the X API at $base_url (account @$(value account_username), id $(value account_id))"

export TAP_X_DM_API_URL="$base_url"
export TAP_X_DM_ACCESS_TOKEN="$(value access_token)"

if [ "$mode" = postgres ]; then
  # A throwaway server on a free port of 127.0.0.1, with a random password (as root, it runs
  # as the `postgres` user, which owns its folder).
  pg_root=$(mktemp -d "${TMPDIR:-/tmp}/tap-x-dm-demo-pg.XXXXXX")
  if [ "$(id -u)" -eq 0 ]; then
    as_postgres=(runuser -u postgres --)
    chown postgres "$pg_root"
  fi
  password=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(12))')
  port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf '%s\n' "$password" >"$pg_root/pwfile"
  [ "$(id -u)" -ne 0 ] || chown postgres "$pg_root/pwfile"
  ${as_postgres[@]+"${as_postgres[@]}"} "$pg_bin/initdb" -D "$pg_root/data" -U postgres \
    --pwfile "$pg_root/pwfile" --auth-host=scram-sha-256 --auth-local=trust >"$pg_root/initdb.log" 2>&1 ||
    { cat "$pg_root/initdb.log" >&2; exit 1; }
  ${as_postgres[@]+"${as_postgres[@]}"} "$pg_bin/pg_ctl" -D "$pg_root/data" -l "$pg_root/server.log" -w \
    -o "-p $port -k $pg_root -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  echo "Throwaway PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') at 127.0.0.1:$port (user postgres, database postgres)"
  psql=("$pg_bin/psql")
  [ -x "$pg_bin/psql" ] || psql=(psql)
  psql+=(-h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1)

  # The README's recipe: where target-postgres and dbt connect, the passwords from the environment.
  export TARGET_POSTGRES_HOST=127.0.0.1 TARGET_POSTGRES_PORT="$port" TARGET_POSTGRES_PASSWORD="$password"
  export DBT_POSTGRES_HOST=127.0.0.1 DBT_POSTGRES_PORT="$port" DBT_POSTGRES_PASSWORD="$password"
  export PGPASSWORD="$password"
  # Also read two whole conversations (conversation_events): the newest group and one-to-one
  # of the account's first page, so x_dm__events has copies to deduplicate.
  eval "$(.venv/bin/python - "$base_url" "$TAP_X_DM_ACCESS_TOKEN" <<'PY'
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
request = urllib.request.Request(
    url + "/2/dm_events?max_results=100&dm_event.fields=dm_conversation_id,sender_id",
    headers={"Authorization": "Bearer " + token},
)
events = json.load(urllib.request.urlopen(request, timeout=30)).get("data", [])
ids = [e["dm_conversation_id"] for e in events if "dm_conversation_id" in e]
groups = [c for c in ids if "-" not in c][:1]
pairs = [c for c in ids if "-" in c][:1]
print("export TAP_X_DM_DM_CONVERSATION_IDS='%s'" % json.dumps(groups + pairs))
PY
)"
  echo "Conversations read in full (conversation_events): $TAP_X_DM_DM_CONVERSATION_IDS"

  "$MELTANO" install tap-x-dm target-postgres dbt-postgres
  # Its own state id, new each time like the database: a real project's state stays untouched.
  "$MELTANO" run --full-refresh --state-id-suffix sandbox-demo x-dm-to-postgres-models

  echo
  echo "Rows in PostgreSQL, tables loaded by target-postgres and the dbt models:"
  for relation in x_dm.dm_events x_dm.conversation_events x_dm.users x_dm.tweets x_dm.media \
    x_dm_analytics.x_dm__events x_dm_analytics.x_dm__conversations \
    x_dm_analytics.x_dm__response_times x_dm_analytics.x_dm__response_times_by_kind; do
    printf '  %-44s %6d rows\n' "$relation" "$("${psql[@]}" -At -c "select count(*) from $relation")"
  done
  echo
  echo "First-response times, the latest answered turns (x_dm_analytics.x_dm__response_times):"
  "${psql[@]}" -P footer=off -c "
    select dm_conversation_id, conversation_kind as kind, inbound_event_id,
           to_char(inbound_at, 'YYYY-MM-DD HH24:MI:SS') as inbound_at,
           date_trunc('second', response_time) as response_time
    from x_dm_analytics.x_dm__response_times
    where reply_event_id is not null
    order by inbound_at desc
    limit 5"
  echo "First response by conversation kind (x_dm_analytics.x_dm__response_times_by_kind):"
  "${psql[@]}" -P footer=off -c "
    select conversation_kind as kind, turns, answered, unanswered,
           justify_hours(date_trunc('second', median_seconds * interval '1 second')) as median,
           justify_hours(date_trunc('second', p90_seconds * interval '1 second')) as p90
    from x_dm_analytics.x_dm__response_times_by_kind
    order by kind desc"
  # The one-page HTML report of the models (the same command works on any warehouse).
  .venv/bin/python -m scripts.report --output .sandbox/x_dm_report.html
  echo "Open the report: file://$PWD/.sandbox/x_dm_report.html"
  requests=$(grep -c '"path"' .sandbox/requests.jsonl || true)
  echo "Requests made to the sandbox: $requests (log: .sandbox/requests.jsonl)"
  if [ "${DEMO_KEEP_POSTGRES:-0}" = 1 ]; then
    echo "PostgreSQL keeps running: PGPASSWORD=$password ${psql[*]}"
    echo "Stop it with: ${as_postgres[*]} $pg_bin/pg_ctl -D $pg_root/data stop && rm -rf $pg_root"
  else
    echo "The server is removed at exit; DEMO_KEEP_POSTGRES=1 keeps it running to explore."
  fi
  exit 0
fi

rm -rf output && mkdir -p output
"$MELTANO" install tap-x-dm target-jsonl
# Its own state id (dev:tap-x-dm-to-target-jsonl:sandbox-demo): the sandbox is another X
# account, and a real run's state (dev:tap-x-dm-to-target-jsonl) must never hold its bookmark.
"$MELTANO" run --state-id-suffix sandbox-demo tap-x-dm target-jsonl

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
echo "Run it again: Meltano keeps the bookmark (state id dev:tap-x-dm-to-target-jsonl:sandbox-demo),"
echo "so the next run reads only new events; a real account's runs use their own state."
