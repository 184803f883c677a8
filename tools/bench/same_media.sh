#!/usr/bin/env bash
# tools/bench/same_media.sh MMSGATE MMSLOAD [N]: N SMS, then (on a fresh gateway) N MMS carrying the
# same 100 KB image, 64 in flight; prints for each the acceptance rate and the gateway's CPU per
# message, and the data directory's size (docs/performance.md, "The same image to many").
set -euo pipefail
gate=$1 load=$2 count=${3:-10000}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for kind in sms same-image; do
  rm -rf "$work/data"
  "$gate" --scenario "$(dirname "$0")/bench.txtpb" --data-dir "$work/data" --grpc 127.0.0.1:0 \
    --http 127.0.0.1:0 --log-level warn >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 300); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.1; done
  grpc=$(grep -oE 'grpc=[0-9.]+:[0-9]+' "$work/out" | cut -d= -f2)
  media=()
  [ "$kind" = same-image ] && media=(--media-bytes 102400 --same-media)
  cpu0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  "$load" --grpc "$grpc" --count "$count" --concurrency 64 --to-prefix +1202556 --wait-final \
    --progress 0 "${media[@]}" >"$work/load" 2>&1
  cpu1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  rate=$(sed -n 's/^accepted *[0-9]* (\([0-9.]*\)\/s.*/\1/p' "$work/load")
  size=$(du -sk "$work/data" | cut -f1)
  echo "$kind accepted_per_s $rate cpu_us_per_message $(awk -v t=$((cpu1 - cpu0)) -v n="$count" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }') data_dir_kb $size"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done
