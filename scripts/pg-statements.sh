#!/usr/bin/env bash
# The statements a PostgreSQL node sends per sign-in loop, counted from PostgreSQL's own log:
# a fresh database with `log_min_duration_statement = 0`, a short run of sign-in loops at C=1,
# then each statement's executions per loop (the generator's sign-up setup, 20 users, shows as
# statements run 20 times).
#
#   scripts/pg-statements.sh GENERATOR LATCH [SECONDS]
#
# Needs the machine's PostgreSQL (scripts/postgres-test-db.sh) and its `postgres` superuser,
# which alone may turn statement logging on for a database.
set -euo pipefail
GEN=$1 BIN=$2 SECONDS_RUN=${3:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/postgres-test-db.sh"
start_test_postgres
name="latch_statements_$$"
psql -q "$LATCH_TEST_POSTGRES_URL" -c "CREATE DATABASE $name" >/dev/null
su postgres -c "psql -q -c \"ALTER DATABASE $name SET log_min_duration_statement = 0\""
log=$(su postgres -c "psql -Atc 'SELECT pg_current_logfile()'")
case "$log" in /*) ;; "") log=$(ls -t /var/log/postgresql/postgresql-*.log | head -n 1) ;; *) log="$(su postgres -c "psql -Atc 'SHOW data_directory'")/$log" ;; esac
dir=$(mktemp -d)
PORT=18197
"$BIN" serve --port "$PORT" --data-dir "$dir" --database-url "${LATCH_TEST_POSTGRES_URL%/*}/$name" \
  --rate-limit-ip-per-minute 0 --rate-limit-client-per-minute 0 --rate-limit-passkeys-per-hour 0 \
  --rate-limit-sign-ups-per-hour 0 >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -qs "latch listening" "$dir/server.log" && break; sleep 0.1; done
start=$(wc -l <"$log")
"$GEN" --url "http://127.0.0.1:$PORT" --users 20 --concurrency 1 --duration "$SECONDS_RUN" --scenario sign-in --json >"$dir/report.json" 2>/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true
tail -n +"$start" "$log" | grep "@$name " >"$dir/statements.log" || true
python3 - "$dir/report.json" "$dir/statements.log" <<'PY'
import collections, json, re, sys
loops = json.load(open(sys.argv[1]))["sign_in"]["completed"]
runs = collections.Counter()
for line in open(sys.argv[2]):
    m = re.search(r"duration: [\d.]+ ms\s+execute [^:]*: (.*)", line)
    if m:
        runs[m.group(1)[:90]] += 1
print(f"{loops} sign-in loops; statements executed per loop:")
for sql, n in runs.most_common():
    print(f"{n / loops:6.2f}  {sql}")
print(f"{sum(runs.values()) / loops:6.2f}  in all (the sign-up setup included)")
PY
rm -rf "$dir"
