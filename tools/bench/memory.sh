#!/usr/bin/env bash
# tools/bench/memory.sh MMSGATE MMSLOAD N: RSS of mmsgate with N SMS queued behind a carrier outage,
# and after they drain (docs/performance.md, "Memory"). Prints:
#   baseline_kb K  queued_kb K  bytes_per_queued_sms B  drain_peak_kb K  drained_kb K
# The outage lasts long enough for the sends (assumed >= 1,000/s), then ends by itself; "drained"
# is RSS 10 s after the last DELIVERED, read from /metrics. Stops the mmsgate it started.
set -euo pipefail
gate=$1 load=$2 count=$3
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
outage=$((30 + count / 1000))
sed "s/^simulation /scheduled_faults { carrier_id: \"northwind\" at_seconds: 0 fault { kind: OUTAGE duration_seconds: $outage } }\nsimulation /" \
  "$(dirname "$0")/bench.txtpb" >"$work/outage.txtpb"
"$gate" --scenario "$work/outage.txtpb" --data-dir "$work/data" --grpc 127.0.0.1:0 \
  --http 127.0.0.1:0 --log-level warn >"$work/out" 2>"$work/err" &
pid=$!
started=$(date +%s)
for _ in $(seq 300); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.1; done
grpc=$(grep -oE 'grpc=[0-9.]+:[0-9]+' "$work/out" | cut -d= -f2)
http=$(grep -oE 'http=[0-9.]+:[0-9]+' "$work/out" | cut -d= -f2)
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
delivered() { curl -s "http://$http/metrics" | awk '/^mmsgate_messages_delivered_total/ { print $2 }'; }
baseline=$(rss)
"$load" --grpc "$grpc" --count "$count" --concurrency 64 --to +12025550042 --progress 0 \
  >"$work/load" 2>&1
queued=$(rss)
if [ $(($(date +%s) - started)) -ge "$outage" ]; then
  echo "memory: the sends outlasted the ${outage}s outage; the queued figure is low" >&2
fi
peak=0
while [ "$(delivered)" != "$count" ]; do
  r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
  [ $(($(date +%s) - started)) -gt $((outage + 600)) ] && { echo "memory: no drain" >&2; exit 1; }
  sleep 1
done
sleep 10
echo "baseline_kb $baseline queued_kb $queued bytes_per_queued_sms $(((queued - baseline) * 1024 / count)) drain_peak_kb $peak drained_kb $(rss)"
