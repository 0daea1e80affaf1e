#!/usr/bin/env bash
# Instructions per request of the bare Pingora passthrough and of the
# gateway (on sled, and on a throwaway PostgreSQL), counted by callgrind (see instructions.py and BENCHMARKS.md).
#
#   benches/load/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

source benches/load/prepare.sh
prepare valgrind:valgrind curl:curl initdb:postgresql

exec python3 benches/load/instructions.py "$@"
