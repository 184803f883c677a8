#!/usr/bin/env bash
# Set-up, build and run every test, then the same under the sanitizers and a short fuzz run.
# Usage: tools/test.sh [extra ctest arguments]
#   SANITIZERS=0 skips the sanitizer builds and the fuzz run (a quick local loop).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$(nproc)" --timeout 600 "$@")

if [ "${SANITIZERS:-1}" = 0 ]; then exit 0; fi

# AddressSanitizer + UndefinedBehaviorSanitizer: every unit and integration test (the mmsgate
# and mmsctl they start are instrumented too).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tools/sanitizers/lsan.supp:print_suppressions=0}
cmake --preset asan >/dev/null
cmake --build build-asan -j "$(nproc)"
(cd build-asan && ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@")

# ThreadSanitizer: the pipeline's unit tests (lifecycle, sending, sender queues, carriers,
# webhooks, events, the HTTP server and client, the console's sessions and event stream), where io_context threads and the storage
# executor meet.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tools/sanitizers/tsan.supp}
cmake --preset tsan >/dev/null
cmake --build build-tsan -j "$(nproc)" --target carriers_test mmsc_test gateway_test console_test
(cd build-tsan && ctest --output-on-failure -j "$(nproc)" --timeout 900 \
  -R '^(Lifecycle|SendService|SenderQueues|SenderLimits|CarrierNode|Fleet|Handsets|Webhook|StatusCallbacks|EventBus|Events|HttpServer|HttpClient|MediaFetch|Database|RocksDatabase|InboundHandler|ConsoleTest)')

# libFuzzer: each target for a few seconds from its seed corpus.
tools/fuzz.sh "${FUZZ_SECONDS:-10}"
