#!/usr/bin/env bash
# The soak test (issue 17), by hand, not in CI: an hour of mixed traffic
# against a release build; the result goes to target/soak/results.md (and,
# by hand, into BENCHMARKS.md).
#
#   benches/soak/run.sh                 # an hour
#   SOAK_MINUTES=5 benches/soak/run.sh  # a quick look
#   SOAK_BIN=/tmp/soak/tfa-gateway benches/soak/run.sh  # a copy, no build
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -n "${SOAK_BIN:-}" ] || cargo build --release --locked
exec python3 benches/soak/soak.py "$@"
