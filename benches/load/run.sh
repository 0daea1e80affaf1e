#!/usr/bin/env bash
# The load harness (issue 7): one command, one machine, one run.
#
#   benches/load/run.sh
#
# Installs wrk, nginx and PostgreSQL from Debian if they are missing, builds
# the gateway and the harness's helpers (examples/bench_upstream.rs,
# bench_passthrough.rs, bench_rate.rs, seed_store.rs) in release mode, then runs
# benches/load/harness.py, which starts every process on loopback, measures
# each set-up with wrk and writes target/bench-load/results.md. Settings
# come from the environment; see BENCHMARKS.md for the list (e.g.
# BENCH_ROUNDS=3 BENCH_DURATION=10).
set -euo pipefail
cd "$(dirname "$0")/../.."

source benches/load/prepare.sh
# postgresql: the g3 set-up starts a throwaway cluster of its own
# (benches/load/pg.py); a system cluster apt may start is never used.
prepare wrk:wrk nginx:nginx initdb:postgresql

exec python3 benches/load/harness.py "$@"
