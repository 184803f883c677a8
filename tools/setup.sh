#!/usr/bin/env bash
# Installs, idempotently, every Debian 12 package that building and testing mmsgate needs.
# Safe to run repeatedly: it only calls apt-get when a package is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ccache
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libabsl-dev
  librocksdb-dev
  libboost-dev
  libphonenumber-dev
  liburiparser-dev
  libjemalloc-dev
  libpugixml-dev
  libvips-dev
  libssl-dev
  libspdlog-dev libfmt-dev
  libcli11-dev
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev
  nlohmann-json3-dev
  gnuplot-nox curl
  clang libclang-rt-14-dev
  python3 python3-grpcio python3-protobuf python3-twilio python3-matplotlib python3-pytest
  chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -ne 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Four build trees (normal, ASan, TSan, fuzz) with debug info outgrow ccache's 5 GB default,
# and an evicted cache turns a 10-minute CI run into an hour.
ccache --max-size 20G >/dev/null
