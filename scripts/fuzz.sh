#!/usr/bin/env bash
# Runs each libFuzzer target of fuzz/ for SECONDS under ASan+UBSan and prints, per target, the
# inputs executed and the coverage reached. Fails if any target finds a crash (the input is
# kept under BUILD/artifacts/). Usage: scripts/fuzz.sh BUILD_DIR SECONDS ARROWRING_CLI
#   `make fuzz` runs each for FUZZ_SECONDS (default 60); `make test` runs a bounded pass.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1 seconds=$2 cli=$3
data=${ARROWRING_TESTING_DATA:-../shared/arrow-testing}
corpus=$build/corpus artifacts=$build/artifacts
mkdir -p "$corpus"/{handle,ring_open,read_table,recognized_stream,bridge_wire} "$artifacts"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Seeds. Handles: one of each form. Segments: a real ring's file, made with the CLI and removed.
printf 'arrowring:1:00000000deadbeef:5:4096:100' > "$corpus/handle/seed-text"
printf 'ARH1\001\000\000\000\357\276\255\336\000\000\000\000\005\000\000\000\000\000\000\000\000\020\000\000\000\000\000\000d\000\000\000\000\000\000\000' \
  > "$corpus/handle/seed-binary"
# Bridge wire forms: a ticket (an ack has the same form) and a batch tag.
printf 'arrowring1\nevents\nstorage-1\n41' > "$corpus/bridge_wire/seed-ticket"
printf 'arrowring1\nevents\nstorage-1\n-' > "$corpus/bridge_wire/seed-ticket-fresh"
printf 'ARB1\001\000\000\000\357\276\255\336\000\000\000\000\005\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' \
  > "$corpus/bridge_wire/seed-tag"
seed_ring="fuzz-seed-$$"
"$cli" create "$seed_ring" --capacity 4KiB --max-messages 8 > /dev/null
cp "/dev/shm/arrowring.$seed_ring" "$corpus/ring_open/seed-empty-ring"
"$cli" rm "$seed_ring" > /dev/null
# IPC streams: arrow-testing's fuzz corpus and gold streams, read in place.
seeds=$(find "$data/fuzz" "$data/integration" fuzz/regressions/read_table -type f \( -name '*.stream' -o -name '*ipc-stream*' \) | paste -sd, -)

status=0
run() {
  local target=$1 dir=$2
  shift 2
  local log="$build/$target.log"
  if ! "$build/bin/$target" "$corpus/$dir" -max_total_time="$seconds" -print_final_stats=1 \
       -artifact_prefix="$artifacts/$target-" "$@" > "$log" 2>&1; then
    echo "fuzz: $target FOUND A FAILURE (input and log: $artifacts/, $log):" >&2
    grep -E "ERROR|SUMMARY|runtime error" "$log" | head -5 >&2
    status=1
  fi
  local execs cov
  execs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || echo 'cov: ?')
  echo "fuzz: $target: $execs inputs in ${seconds}s, $cov"
}
run arrowring_fuzz_handle handle -max_len=128
run arrowring_fuzz_ring_open ring_open -max_len=65536
run arrowring_fuzz_read_table read_table -max_len=262144 -seed_inputs="$seeds"
# Writes into a built-in valid stream (the empty input is that stream): no seeds needed.
run arrowring_fuzz_recognized_stream recognized_stream -max_len=400
run arrowring_fuzz_bridge_wire bridge_wire -max_len=1024
exit $status
