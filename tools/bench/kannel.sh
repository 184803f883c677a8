#!/usr/bin/env bash
# tools/bench/kannel.sh: Kannel 1.4.5 (Debian kannel, kannel-extras) as tools/bench.sh's
# reference. Starts bearerbox + smsbox + fakesmsc on free 127.0.0.1 ports in a temp dir and
# stops exactly those processes.
#
#   kannel.sh sendsms SECONDS   h2load, 32 keep-alive connections, on smsbox's sendsms for
#                               SECONDS: prints "kannel_sendsms_per_s N" (2xx answers / s)
#   kannel.sh e2e COUNT         COUNT sendsms requests as fast as 32 connections go, timed from
#                               the first request to the COUNT-th message fakesmsc receives:
#                               prints "kannel_e2e_delivered_per_s N"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:?usage: kannel.sh sendsms SECONDS | e2e COUNT}
arg=${2:?usage: kannel.sh sendsms SECONDS | e2e COUNT}

dir=$(mktemp -d /tmp/mmsgate-kannel.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
log() { echo "kannel: $*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
admin=$(free_port); smsbox=$(free_port); fake=$(free_port); sendsms=$(free_port)
sed -e "s|@ADMIN_PORT@|$admin|; s|@SMSBOX_PORT@|$smsbox|; s|@FAKE_PORT@|$fake|" \
    -e "s|@SENDSMS_PORT@|$sendsms|; s|@DIR@|$dir|g" "$here/kannel/kannel.conf.in" >"$dir/kannel.conf"

/usr/sbin/bearerbox -v 4 "$dir/kannel.conf" >"$dir/bearerbox.out" 2>&1 &
pids+=($!)
wait_for() {  # description, command
  for _ in $(seq 300); do eval "$2" >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "$1 did not come up in 30 s"; tail -5 "$dir"/*.log "$dir"/*.out >&2 || true; exit 1
}
wait_for "bearerbox" "curl -sf 'http://127.0.0.1:$admin/status.txt?password=bench'"

# fakesmsc sends no MO (-m 0) and prints "Got message N: ..." for each MT it receives; the
# counter notes the time the COUNT-th arrives.
count=0
[ "$mode" = e2e ] && count=$arg
/usr/lib/kannel/test/fakesmsc -H 127.0.0.1 -r "$fake" -m 0 "1 2 text x" 2>&1 |
  python3 -u -c '
import sys, time
want = int(sys.argv[1]); n = 0
for line in sys.stdin:
    if "Got message" in line:
        n += 1
        if n == want:
            print("%.6f" % time.time(), flush=True)
' "$count" >"$dir/received" &
pids+=($!)
wait_for "the fake SMSC" "curl -sf 'http://127.0.0.1:$admin/status.txt?password=bench' | grep -q 'fake.*online'"
/usr/sbin/smsbox -v 4 "$dir/kannel.conf" >"$dir/smsbox.out" 2>&1 &
pids+=($!)
wait_for "smsbox" "curl -s -o /dev/null 'http://127.0.0.1:$sendsms/'"

url="http://127.0.0.1:$sendsms/cgi-bin/sendsms?username=bench&password=bench&from=12025550100&to=12025550199&text=bench"
case "$mode" in
  sendsms)
    out=$(h2load --h1 -c 32 -t 2 -D "$arg" "$url" 2>&1)
    ok=$(echo "$out" | sed -n 's/.*status codes: \([0-9]*\) 2xx.*/\1/p')
    echo "kannel_sendsms_per_s $(awk -v n="${ok:-0}" -v s="$arg" 'BEGIN { printf "%.1f", n / s }')"
    echo "kannel_sendsms_detail $(echo "$out" | grep -E 'requests:|status codes' | tr -s ' ' | tr '\n' ' ')"
    ;;
  e2e)
    start=$(date +%s.%N)
    out=$(h2load --h1 -c 32 -t 2 -n "$arg" "$url" 2>&1)
    for _ in $(seq 1200); do [ -s "$dir/received" ] && break; sleep 0.1; done
    [ -s "$dir/received" ] || { log "fakesmsc did not receive $arg messages in 120 s"; exit 1; }
    end=$(head -1 "$dir/received")
    echo "kannel_e2e_delivered_per_s $(awk -v n="$arg" -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", n / (b - a) }')"
    echo "kannel_e2e_detail count=$arg seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }') $(echo "$out" | grep -E 'status codes' | tr -s ' ')"
    ;;
  *) log "unknown mode $mode"; exit 2 ;;
esac
