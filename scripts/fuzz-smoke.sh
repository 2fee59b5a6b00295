#!/usr/bin/env bash
# Short, bounded fuzzing of every cargo-fuzz target in fuzz/ (see docs/fuzzing.md).
#
#   scripts/fuzz-smoke.sh                 # every target, 25 s each
#   scripts/fuzz-smoke.sh form_body       # some targets
#   FUZZ_SECONDS=3600 scripts/fuzz-smoke.sh finish_authentication   # a long run
#   FUZZ_RUNS=5000000 scripts/fuzz-smoke.sh webauthn_cbor           # bounded by executions
#
# Installs cargo-fuzz if it is missing. cargo-fuzz passes nightly-only flags (-Zsanitizer,
# sancov) to rustc; the toolchain here is stable, so RUSTC_BOOTSTRAP=1 unlocks them.
# One fuzzing process at a time (no -jobs/-workers): the machines have two shared cores.
# Exits non-zero on the first crash, panic, oracle failure, leak, timeout or OOM; the input
# is left in fuzz/artifacts/TARGET/ and the report in fuzz/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${FUZZ_SECONDS:-25}"
RUNS="${FUZZ_RUNS:-}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "fuzz-smoke: building ${#targets[@]} target(s)" >&2
cargo fuzz build

mkdir -p fuzz/logs
passed=0
failed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    seeds=()
    if [ -d "fuzz/seeds/$t" ]; then
        seeds=("fuzz/seeds/$t")
    fi
    limit=(-max_total_time="$SECONDS_PER_TARGET")
    bound="$SECONDS_PER_TARGET s"
    if [ -n "$RUNS" ]; then
        limit=(-runs="$RUNS")
        bound="$RUNS runs"
    fi
    log="fuzz/logs/$t.log"
    echo "fuzz-smoke: $t ($bound)" >&2
    # New corpus entries go to the first directory only; seeds are read, never written.
    if cargo fuzz run "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
        "${limit[@]}" -timeout=10 -rss_limit_mb=3072 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
        echo "fuzz-smoke: $t ok: ${runs:-?} executions (${speed:-?}/s), no crash"
        passed=$((passed + 1))
    else
        echo "fuzz-smoke: $t FAILED; the end of $log:"
        tail -n 60 "$log"
        ls -1 "fuzz/artifacts/$t/" 2>/dev/null | sed "s|^|  artifact: fuzz/artifacts/$t/|"
        echo "  replay: RUSTC_BOOTSTRAP=1 cargo fuzz run $t fuzz/artifacts/$t/<file>"
        echo "  decode: RUSTC_BOOTSTRAP=1 cargo fuzz fmt $t fuzz/artifacts/$t/<file>"
        failed=$((failed + 1))
        break
    fi
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
