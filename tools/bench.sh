#!/usr/bin/env bash
# tools/bench.sh: mmsgate's performance figures, each as a ratio against a reference measured
# in the same run with the same client (docs/performance.md).
#
#   tools/bench.sh [--seconds S] [--count N] [--mmsgate BINARY] [FIGURE...]
#
# --mmsgate measures another mmsgate binary (e.g. an older build, for a before/after) with the
# same clients and references.
# FIGURE is any of: grpc (SendMessage vs a bare gRPC callback server), rest (REST create vs
# Kannel's sendsms, h2load), e2e (delivered/s vs Kannel to fakesmsc), mms (100 KB inline media
# stored per second), memory (RSS per SMS queued behind an outage of --count messages, and after
# they drain), all (default). Release build in build-release/. Every process it starts
# (mmsgate, grpc_echo, Kannel's boxes) it stops; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=10
count=100000
gate_binary=
figures=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --mmsgate) gate_binary=$2; shift 2 ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) figures+=("$1"); shift ;;
  esac
done
[ ${#figures[@]} -eq 0 ] && figures=(all)
wants() { for f in "${figures[@]}"; do [ "$f" = all ] || [ "$f" = "$1" ] && return 0; done; return 1; }

log() { echo "bench: $*" >&2; }

# Packages the references and load tools need (the test suite does not).
need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v bearerbox >/dev/null || [ -x /usr/sbin/bearerbox ] || need+=(kannel)
[ -x /usr/lib/kannel/test/fakesmsc ] || need+=(kannel-extras)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update >&2 && apt-get install -y "${need[@]}" >&2
fi

log "Release build"
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DMMSGATE_BUILD_TESTS=OFF \
  -DMMSGATE_BUILD_BENCHMARKS=OFF >&2
cmake --build build-release -j "$(nproc)" --target mmsgate mmsload grpc_echo grpc_replay >&2
bin=$root/build-release
gate_binary=${gate_binary:-$bin/gateway/mmsgate}

work=$(mktemp -d /tmp/mmsgate-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

account=AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e
token=9f8e7d6c5b4a39281706f5e4d3c2b1a0

# Starts a fresh mmsgate on the bench scenario; sets gate_pid, gate_grpc, gate_http.
start_mmsgate() {
  local dir=$work/gate.$RANDOM
  mkdir -p "$dir"
  "$gate_binary" --scenario tools/bench/bench.txtpb --data-dir "$dir/data" \
    --grpc 127.0.0.1:0 --http 127.0.0.1:0 --log-level warn "$@" >"$dir/out" 2>"$dir/err" &
  gate_pid=$!
  pids+=("$gate_pid")
  for _ in $(seq 300); do grep -q ready "$dir/out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$dir/out" || { cat "$dir/err" >&2; log "mmsgate did not start"; exit 1; }
  gate_grpc=$(grep -oE 'grpc=[0-9.]+:[0-9]+' "$dir/out" | cut -d= -f2)
  gate_http=$(grep -oE 'http=[0-9.]+:[0-9]+' "$dir/out" | cut -d= -f2)
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

field() { sed -n "s/^$1 //p" | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
report() {  # name unit reference mmsgate target
  printf '%-34s reference %10s %-10s mmsgate %10s  ratio %5s  (target >= %s)\n' \
    "$1" "$3" "$2" "$4" "$(ratio "$4" "$3")" "$5"
}

if wants grpc; then
  log "grpc: mmsgate SendMessage, 64 in flight, 4 channels, ${seconds}s"
  start_mmsgate
  cpu_before=$(awk '{ print $14 + $15 }' "/proc/$gate_pid/stat")
  out=$("$bin/tools/grpc_replay" --target "$gate_grpc" --seconds "$seconds" --concurrency 64 \
    --channels 4 --warmup 0)
  sleep 1  # the lifecycle of the last calls
  cpu_after=$(awk '{ print $14 + $15 }' "/proc/$gate_pid/stat")
  calls=$(echo "$out" | field detail | grep -oE 'ok=[0-9]+' | cut -d= -f2)
  log "mmsgate: $(echo "$out" | field detail) server_cpu_us_per_call=$(awk -v t=$((cpu_after - cpu_before)) -v n="${calls:-1}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }')"
  mms_rate=$(echo "$out" | field calls_per_s)
  bytes=$(echo "$out" | field detail | grep -oE 'response_bytes=[0-9]+' | cut -d= -f2)
  stop "$gate_pid"
  "$bin/tools/grpc_echo" --response-bytes "${bytes:-300}" >"$work/echo.out" 2>&2 &
  echo_pid=$!
  pids+=("$echo_pid")
  for _ in $(seq 100); do grep -q ready "$work/echo.out" 2>/dev/null && break; sleep 0.1; done
  echo_port=$(grep -oE 'port=[0-9]+' "$work/echo.out" | cut -d= -f2)
  out=$("$bin/tools/grpc_replay" --target "127.0.0.1:$echo_port" --seconds "$seconds" \
    --concurrency 64 --channels 4 --warmup 0)
  log "echo: $(echo "$out" | field detail)"
  echo_rate=$(echo "$out" | field calls_per_s)
  stop "$echo_pid"
  report "grpc SendMessage (SMS, 64 in flight)" calls/s "$echo_rate" "$mms_rate" 0.8
fi

if wants rest; then
  log "rest: mmsgate POST Messages.json, h2load 32 connections, ${seconds}s"
  start_mmsgate
  printf 'From=%%2B12025550100&To=%%2B12025550199&Body=bench' >"$work/form"
  out=$(h2load --h1 -c 32 -t 2 -D "$seconds" -d "$work/form" \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    -H "Authorization: Basic $(printf '%s:%s' "$account" "$token" | base64 -w0)" \
    "http://$gate_http/2010-04-01/Accounts/$account/Messages.json" 2>&1)
  stop "$gate_pid"
  ok=$(echo "$out" | sed -n 's/.*status codes: \([0-9]*\) 2xx.*/\1/p')
  mms_rest=$(awk -v n="${ok:-0}" -v s="$seconds" 'BEGIN { printf "%.1f", n / s }')
  log "mmsgate: $(echo "$out" | grep -E 'requests:|status codes' | tr -s ' ' | tr '\n' ' ')"
  kannel=$(tools/bench/kannel.sh sendsms "$seconds" | field kannel_sendsms_per_s)
  report "REST create (32 connections)" req/s "$kannel" "$mms_rest" 2.0
fi

if wants e2e; then
  log "e2e: $count SMS, driver start to the last DELIVERED"
  start_mmsgate
  # RSS once a second while the load runs: the rate should hold with flat memory.
  (while kill -0 "$gate_pid" 2>/dev/null; do
     awk '/^VmRSS/ { print $2 }' "/proc/$gate_pid/status" 2>/dev/null; sleep 1
   done) >"$work/e2e_rss" &
  pids+=("$!")
  out=$("$bin/tools/mmsload" --grpc "$gate_grpc" --count "$count" --concurrency 64 --channels 4 \
    --to-prefix +1202556 --wait-final --watch-final-only --timeout 600 --progress 0 2>/dev/null)
  stop "$gate_pid"
  log "mmsgate: $(echo "$out" | grep -E '^(accepted|delivered/s|final status)' | tr -s ' ' | tr '\n' ' ')"
  # Highest RSS in each quarter of the run: a leak shows as a rising line.
  log "mmsgate RSS MB by quarter of the run (max): $(awk '{ v[NR] = $1 } END {
    for (q = 0; q < 4; ++q) { m = 0; for (i = int(q * NR / 4) + 1; i <= int((q + 1) * NR / 4); ++i)
      if (v[i] > m) m = v[i]; printf "%s%.0f", q ? " " : "", m / 1024 } }' "$work/e2e_rss")"
  mms_e2e=$(echo "$out" | sed -n 's/^delivered\/s *\([0-9.]*\).*/\1/p')
  kannel=$(tools/bench/kannel.sh e2e "$count" | field kannel_e2e_delivered_per_s)
  report "end to end delivered/s (SMS)" msg/s "$kannel" "$mms_e2e" 2.0
fi

if wants mms; then
  log "mms: 2000 x 100 KB inline media, 64 in flight"
  start_mmsgate
  out=$("$bin/tools/mmsload" --grpc "$gate_grpc" --count 2000 --concurrency 64 \
    --media-bytes 102400 --progress 0 2>/dev/null)
  stop "$gate_pid"
  rate=$(echo "$out" | sed -n 's/^accepted *[0-9]* (\([0-9.]*\)\/s.*/\1/p')
  mb=$(awk -v r="${rate:-0}" 'BEGIN { printf "%.1f", r * 102400 / 1e6 }')
  printf '%-34s %10s MB/s  (target >= 200)\n' "MMS 100 KB inline, stored" "$mb"
fi

if wants memory; then
  log "memory: $count SMS queued behind a carrier outage, then drained"
  out=$(tools/bench/memory.sh "$gate_binary" "$bin/tools/mmsload" "$count")
  log "mmsgate: $out"
  per=$(echo "$out" | sed -n 's/.*bytes_per_queued_sms \([0-9]*\).*/\1/p')
  base=$(echo "$out" | sed -n 's/.*baseline_kb \([0-9]*\).*/\1/p')
  drained=$(echo "$out" | sed -n 's/.*drained_kb \([0-9]*\).*/\1/p')
  printf '%-34s %10s bytes each (target <= 1024); RSS %s MB at start, %s MB after the drain\n' \
    "SMS queued behind an outage" "$per" "$((base / 1024))" "$((drained / 1024))"
fi
