#!/usr/bin/env bash
# Set-up, Release build, then run mmsgate (built-in default scenario unless --scenario is given).
# mmsctl, the command-line client, is built beside it: build-release/tools/mmsctl.
# Usage: tools/run.sh [mmsgate flags, e.g. --scenario tools/scenarios/x.txtpb --grpc 127.0.0.1:0]
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMMSGATE_BUILD_TESTS=OFF -DMMSGATE_BUILD_BENCHMARKS=OFF >&2
# Build output goes to stderr: stdout carries only mmsgate's own contract lines.
cmake --build build-release -j "$(nproc)" --target mmsgate mmsctl >&2
echo "mmsctl: $(pwd)/build-release/tools/mmsctl (try: build-release/tools/mmsctl send --to +12025550142 --body hi --wait)" >&2
exec build-release/gateway/mmsgate "$@"
