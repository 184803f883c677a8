#!/usr/bin/env bash
# A bounded soak, on demand (not in CI): steady mixed load (SMS, MMS, MMS abroad and to a carrier
# without MMS, so conversions to SMS + link run too) through a release-like build for a few
# minutes, sampling mmsgate's RSS, open file descriptors and threads every second. mmsload
# records throughput and latency per second. Plots both and prints a summary; the figures go in
# docs/reliability.md ("Soak").
#   tools/soak.sh [--seconds S] [--rate R] [--out DIR] [--build DIR]
# Defaults: 180 s at 300 messages/s, output in build/soak/, binaries from build/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=180 rate=300 out=build/soak build=build
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
done
cmake --build "$build" --target mmsgate mmsload >&2
mkdir -p "$out"
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# The bench scenario (zero-latency US carrier, sender limits off) plus a US carrier without MMS
# and a UK carrier, each with a little latency and loss, so every path of the pipeline runs.
{
  cat tools/bench/bench.txtpb
  cat <<'PB'
carriers { id: "plainnet" name: "Plain Net" country: "US" prefixes: "+1206555" supports_mms: false
           latency { median_ms: 20 } failure_rate: 0.01 queue_capacity: 2000000 }
carriers { id: "albion" name: "Albion" country: "GB" supports_mms: true default_for_country: true
           latency { median_ms: 40 } failure_rate: 0.01 queue_capacity: 2000000 }
PB
} >"$work/soak.txtpb"

"$build/gateway/mmsgate" --scenario "$work/soak.txtpb" --data-dir "$work/data" --grpc 127.0.0.1:0 \
  --http 127.0.0.1:0 --log-level warn >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 300); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/out" || { cat "$work/err" >&2; echo "soak: mmsgate did not start" >&2; exit 1; }
grpc=$(grep -oE 'grpc=[0-9.]+:[0-9]+' "$work/out" | cut -d= -f2)

# Samples: second since the start (wall clock: an iteration takes a little over a second),
# RSS (MB), open fds, threads.
sample() {
  local start t
  start=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    t=$(($(date +%s) - start))
    local rss fds threads
    rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null) || break
    threads=$(awk '/^Threads/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || break
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    echo "$t $rss $fds $threads"
    sleep 1
  done
}
sample >"$out/resources.dat" &
sampler=$!

"$build/tools/mmsload" --grpc "$grpc" --count $((seconds * rate)) --rate "$rate" \
  --concurrency 256 --mix sms=70,mms=20,intl=5,nomms=5 --media-bytes 20480 --wait-final \
  --timeout 600 --progress 30 --plot "$out/load.png" --json "$out/load.json" | tee "$out/load.txt"
sleep 10  # RSS after the load, at rest
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true

gnuplot <<GP
set terminal pngcairo size 1000,600
set output "$out/resources.png"
set title "mmsgate soak: ${rate} msg/s for ${seconds} s, mixed SMS/MMS (tools/soak.sh)"
set xlabel "seconds"
set ylabel "RSS (MB)"
set y2label "open file descriptors / threads"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
plot "$out/resources.dat" using 1:2 with lines lw 2 title "RSS (MB)", \
     "" using 1:3 axes x1y2 with lines title "open fds", \
     "" using 1:4 axes x1y2 with lines title "threads"
GP

awk -v s="$seconds" '
  NR == 1 { first = $2 }
  $1 >= 10 && $1 <= 20 { early += $2; n_early++ }
  $1 <= s { last = $2; if ($3 > maxfd) maxfd = $3; if ($2 > peak) peak = $2 }
  END { printf "soak: RSS start %.0f MB, at 10-20 s %.0f MB, at the end of the load %.0f MB, peak %.0f MB; most fds %d\n",
        first, early / n_early, last, peak, maxfd }' "$out/resources.dat"
echo "soak: plots $out/resources.png and $out/load.png"
