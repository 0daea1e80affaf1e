#!/usr/bin/env bash
# Instructions per request of the bare Pingora passthrough and of the
# gateway, counted by callgrind (see instructions.py and BENCHMARKS.md).
#
#   benches/load/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
command -v cmake >/dev/null || missing+=(cmake) # pingora builds zlib-ng with it
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo build --release --locked --bin tfa-gateway \
  --example bench_upstream --example bench_passthrough --example seed_store

exec python3 benches/load/instructions.py "$@"
