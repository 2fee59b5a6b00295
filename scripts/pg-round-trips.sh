#!/usr/bin/env bash
# flights.sh BIN : PostgreSQL writes (flights) per sign-in loop, counted with strace
set -euo pipefail
BIN=$1
source /work/wt-pg/scripts/postgres-test-db.sh >/dev/null 2>&1
start_test_postgres 2>/dev/null
PORT=18293
dir=$(mktemp -d)
name="latch_f_$$_$RANDOM"
psql -q "$LATCH_TEST_POSTGRES_URL" -c "CREATE DATABASE $name" >/dev/null
"$BIN" serve --port $PORT --data-dir "$dir" --database-url "${LATCH_TEST_POSTGRES_URL%/*}/$name" --rate-limit-ip-per-minute 0 --rate-limit-client-per-minute 0 --rate-limit-passkeys-per-hour 0 >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "latch listening" "$dir/log" && break; sleep 0.1; done
/tmp/latch-pg-gen --url http://127.0.0.1:$PORT --users 50 --concurrency 2 --duration 8 --scenario sign-in --server-pid $pid --json > $dir/r.json 2>/dev/null &
gp=$!
sleep 4
timeout 2 strace -f -yy -e trace=write,writev,sendto,sendmsg -p $pid -o $dir/st >/dev/null 2>&1 || true
wait $gp
kill $pid; wait $pid 2>/dev/null || true
pgw=$(grep -c ":5432\]" $dir/st || true)
httpw=$(grep -c ":$PORT->" $dir/st || true)
echo "$BIN: pg writes $pgw, http writes $httpw, pg flights per loop $(python3 -c "print(round($pgw/($httpw/5),1))")"
rm -rf $dir
