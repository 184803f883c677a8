#!/usr/bin/env bash
# Runs one carrier-behaviour experiment end to end and plots it (see docs/experiments.md).
#
#   tools/run_experiment.sh NAME        # NAME: a scenario in tools/scenarios/NAME.txtpb
#   tools/run_experiment.sh --list
#
# Steps: build mmsgate and mmsload (Release) in $BUILD_DIR; start a fresh mmsgate on
# tools/scenarios/NAME.txtpb (--grpc/--http 127.0.0.1:0, --data-dir a new temp dir); wait for its
# ready line; run mmsload with the experiment's parameters (one case per scenario, below) and
# print Simulator.ListCarriers counters (--carrier-stats); plot the CSVs with
# tools/plot_experiment.py into docs/img/NAME.png; stop the gateway with SIGTERM; delete the
# temp dir.
#
# Environment:
#   BUILD_DIR    build directory (default build-release, as tools/run.sh). Configured with
#                CMake (Ninja, Release, no tests) if it has no build files yet.
#   NO_BUILD=1   use the binaries already in BUILD_DIR, do not build.
#   RESULTS_DIR  where the mmsload summaries, CSVs and gateway log are kept
#                (default $BUILD_DIR/experiments/NAME).
#   PLOT         the PNG to write (default docs/img/NAME.png).
#
# Everything listens on 127.0.0.1 only. Every step is bounded: the gateway must be ready within
# 30 s, each mmsload run within 150 s, and the gateway must exit within 20 s of SIGTERM (else it
# is reported and killed). Needs /usr/bin/python3 with python3-matplotlib for the plot.
set -euo pipefail
cd "$(dirname "$0")/.."

EXPERIMENTS="mms-drop-midrun outage-recovery latency-loss shortcode-vs-longcode"
usage() {
  echo "usage: $0 NAME   (one of: $EXPERIMENTS)" >&2
  exit 2
}
[[ $# -eq 1 ]] || usage
if [[ $1 == --list ]]; then
  echo "$EXPERIMENTS"
  exit 0
fi
NAME=$1
SCENARIO=tools/scenarios/$NAME.txtpb
[[ -f $SCENARIO ]] || { echo "no scenario $SCENARIO" >&2; usage; }

BUILD_DIR=${BUILD_DIR:-build-release}
RESULTS_DIR=${RESULTS_DIR:-$BUILD_DIR/experiments/$NAME}
PLOT=${PLOT:-docs/img/$NAME.png}
PYTHON=/usr/bin/python3

# --- build -------------------------------------------------------------------------------------
if [[ -z ${NO_BUILD:-} ]]; then
  if [[ ! -f $BUILD_DIR/build.ninja && ! -f $BUILD_DIR/Makefile ]]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DMMSGATE_BUILD_TESTS=OFF -DMMSGATE_BUILD_BENCHMARKS=OFF >/dev/null
  fi
  cmake --build "$BUILD_DIR" --target mmsgate mmsload >/dev/null
fi
MMSGATE=$BUILD_DIR/gateway/mmsgate
MMSLOAD=$BUILD_DIR/tools/mmsload
for binary in "$MMSGATE" "$MMSLOAD"; do
  [[ -x $binary ]] || { echo "missing $binary (unset NO_BUILD to build it)" >&2; exit 1; }
done

# The scenario's time scale: the plot converts real seconds into simulated seconds with it.
TIME_SCALE=$(sed -n 's/^[^#]*time_scale: *\([0-9.eE+-]*\).*/\1/p' "$SCENARIO" | head -n1)
TIME_SCALE=${TIME_SCALE:-1}

# --- start the gateway -------------------------------------------------------------------------
mkdir -p "$RESULTS_DIR" "$(dirname "$PLOT")"
rm -f "$RESULTS_DIR"/*.csv "$RESULTS_DIR"/*.txt "$RESULTS_DIR"/gateway.log
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mmsgate-experiment-$NAME.XXXXXX")
GATEWAY_PID=
cleanup() {
  if [[ -n $GATEWAY_PID ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
    kill -KILL "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

"$MMSGATE" --scenario "$SCENARIO" --grpc 127.0.0.1:0 --http 127.0.0.1:0 \
  --data-dir "$TMP/data" >"$TMP/gateway.out" 2>"$RESULTS_DIR/gateway.log" &
GATEWAY_PID=$!
READY=
for _ in $(seq 300); do
  READY=$(grep -m1 '^mmsgate ready ' "$TMP/gateway.out" || true)
  [[ -n $READY ]] && break
  kill -0 "$GATEWAY_PID" 2>/dev/null || break
  sleep 0.1
done
# Scheduled faults count from the gateway's start; the ready line follows within milliseconds.
GATEWAY_START_NS=$(date +%s%N)
if [[ -z $READY ]]; then
  echo "mmsgate did not become ready; its log:" >&2
  tail -n 20 "$RESULTS_DIR/gateway.log" >&2
  exit 1
fi
GRPC=$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' <<<"$READY")
echo "== $NAME: $READY (time scale $TIME_SCALE, results in $RESULTS_DIR)"

# One mmsload run: load TAG [mmsload flags]; summary in $RESULTS_DIR/TAG.txt, rows in TAG.csv.
load() {
  local tag=$1
  shift
  echo "== mmsload $*"
  timeout 150 "$MMSLOAD" --grpc "$GRPC" --progress 0 --wait-final --timeout 120 \
    --carrier-stats --csv "$RESULTS_DIR/$tag.csv" "$@" | tee "$RESULTS_DIR/$tag.txt"
}

# --- the experiment ----------------------------------------------------------------------------
PLOT_ARGS=()
case $NAME in
  mms-drop-midrun)
    # 400 MMS (20 KB each) from the short code at 20 per real second: 2 per simulated second for
    # 200 simulated seconds; northwind's MMS_UNSUPPORTED window is simulated 60-140 s.
    load mms --from 55501 --to-prefix +1202555 --count 400 --rate 20 --media-bytes 20000
    PLOT_ARGS=(--csv "$RESULTS_DIR/mms.csv" --label "400 MMS" --split-by delivered_as
               --title "northwind drops MMS for 80 simulated s (MMS_UNSUPPORTED)")
    ;;
  outage-recovery)
    # 200 SMS at 10 per real second (one every 6 simulated seconds for 1200 simulated seconds),
    # alternating between northwind (outage at 300-900 s) and southpaw (the control); each
    # message valid for 300 simulated seconds.
    load sms --from +12025550100 --to +12025550101 --to +12065550101 --to +12025550102 \
      --to +12065550102 --count 200 --rate 10 --validity-period 300
    PLOT_ARGS=(--csv "$RESULTS_DIR/sms.csv" --label "200 SMS" --split-by carrier_id
               --title "northwind OUTAGE for 600 simulated s; validity period 300 s")
    ;;
  latency-loss)
    # 400 SMS at 20 per real second (2 per simulated second for 200 simulated seconds) to
    # northwind: +5 s latency at 40-80 s, +30 % loss at 120-160 s.
    load sms --from 55501 --to-prefix +1202555 --count 400 --rate 20
    PLOT_ARGS=(--csv "$RESULTS_DIR/sms.csv" --label "400 SMS"
               --title "northwind EXTRA_LATENCY then EXTRA_LOSS")
    ;;
  shortcode-vs-longcode)
    # The same burst of 300 SMS, as fast as the gateway accepts them, from the short code
    # (100/s) and then from the long code (1/s).
    load short --from 55501 --to-prefix +1212555 --count 300
    load long --from +12025550100 --to-prefix +1212555 --count 300
    PLOT_ARGS=(--csv "$RESULTS_DIR/short.csv" --label "short code 55501 (100 MPS)"
               --csv "$RESULTS_DIR/long.csv" --label "long code +12025550100 (1 MPS)"
               --title "the same burst of 300 SMS from a short code and from a long code"
               --log-time --latency-by-index)
    ;;
  *)
    echo "no experiment parameters for $NAME in $0" >&2
    exit 2
    ;;
esac

# --- stop the gateway --------------------------------------------------------------------------
kill -TERM "$GATEWAY_PID"
STOPPED=
for _ in $(seq 200); do
  if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then STOPPED=1; break; fi
  sleep 0.1
done
if [[ -n $STOPPED ]]; then
  RC=0
  wait "$GATEWAY_PID" || RC=$?
  echo "== mmsgate exited with status $RC after SIGTERM"
else
  echo "== mmsgate did not exit within 20 s of SIGTERM; killing it" >&2
  kill -KILL "$GATEWAY_PID" 2>/dev/null || true
  wait "$GATEWAY_PID" 2>/dev/null || true
fi
GATEWAY_PID=
grep -h 'scheduled fault' "$RESULTS_DIR/gateway.log" || true

# --- plot --------------------------------------------------------------------------------------
"$PYTHON" tools/plot_experiment.py "${PLOT_ARGS[@]}" --time-scale "$TIME_SCALE" --throughput \
  --faults-from "$SCENARIO" --gateway-start-ns "$GATEWAY_START_NS" --summary --dpi 80 \
  --out "$PLOT" | tee "$RESULTS_DIR/plot.txt"
