#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan) and runs each for a bounded time
# from its seed corpus. Usage: tools/fuzz.sh [SECONDS_PER_TARGET] (default 10).
# FUZZ_JOBS=N runs N targets at once (default 1; a longer campaign on an idle machine: its
# number of cores).
# A crash fails the run and leaves the input in build-fuzz/crashes/<target>/; the corpus a run
# grows stays in build-fuzz/corpus/<target>/ (seeds in fuzz/corpus/ are never modified). Each run
# appends "<target> <seconds> <executions>" to build-fuzz/fuzz-time.log, the running total kept
# in docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
jobs=${FUZZ_JOBS:-1}
cmake --preset fuzz >/dev/null
cmake --build build-fuzz --target fuzz_targets -j "$(nproc)"

# One target: prints its line, returns non-zero on a crash.
run_target() {
  local fuzzer=$1 seconds=$2
  local name corpus crashes log runs
  name=$(basename "$fuzzer" _fuzz)
  corpus=build-fuzz/corpus/$name
  crashes=build-fuzz/crashes/$name
  mkdir -p "$corpus" "$crashes"
  log=build-fuzz/$name.log
  local status=0 started
  started=$(date +%s)
  if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$crashes/" "$corpus" "fuzz/corpus/$name" >"$log" 2>&1; then
    echo "fuzz: $name FAILED; input in $crashes/, log in $log" >&2
    tail -40 "$log" >&2
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  # The time it really ran: a crash ends the run early.
  local ran=$(($(date +%s) - started))
  echo "fuzz: $name ran ${ran}s, ${runs} inputs"
  echo "$name $ran $runs" >>build-fuzz/fuzz-time.log
  return $status
}
export -f run_target

ls build-fuzz/fuzz/*_fuzz | xargs -P "$jobs" -I{} bash -c 'run_target "$1" "$2"' _ {} "$seconds"
