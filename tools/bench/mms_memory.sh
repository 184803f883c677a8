#!/usr/bin/env bash
# tools/bench/mms_memory.sh MMSGATE MMSLOAD [MMSGATE ARGS...]: 200 SendMessage calls with 4 MB of
# inline media, 16 in flight, to a zero-latency carrier; prints mmsgate's RSS at start, its peak
# (sampled every 0.2 s) and 10 s after the last DELIVERED (docs/performance.md, "MMS memory").
set -euo pipefail
gate=$1 load=$2; shift 2
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$gate" --scenario "$(dirname "$0")/bench.txtpb" --data-dir "$work/data" --grpc 127.0.0.1:0 \
  --http 127.0.0.1:0 --log-level warn "$@" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 300); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.1; done
grpc=$(grep -oE 'grpc=[0-9.]+:[0-9]+' "$work/out" | cut -d= -f2)
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
baseline=$(rss) peak=0
"$load" --grpc "$grpc" --count 200 --concurrency 16 --media-bytes 4194304 --to +12025550042 \
  --wait-final --progress 0 >"$work/load" 2>&1 &
load_pid=$!
while kill -0 "$load_pid" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.2; done
sleep 10
echo "baseline_kb $baseline peak_kb $peak after_10s_kb $(rss) $(grep -E '^(accepted|refused)' "$work/load" | tr -s ' ' | tr '\n' ' ')"
