#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30, the CI run) from the
# committed seeds in fuzz/seeds/. New inputs collect in fuzz/corpus/, crashes
# in fuzz/artifacts/; exits non-zero if any target crashed. See README.md.
#
#   fuzz/run.sh            # the short run CI does
#   fuzz/run.sh 3600       # an hour per target
#   fuzz/run.sh 600 next_param cookies
set -euo pipefail

seconds="${1:-30}"
shift || true
cd "$(dirname "$0")"

# Pinned: cargo-fuzz 0.13.2 works on stable Rust with `-s none` (no
# sanitizer, so no -Z flag and no nightly); libFuzzer still finds panics,
# failed assertions, overflows (debug assertions are on) and hangs.
CARGO_FUZZ_VERSION=0.13.2
if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
# Flags shared by build and run, so `run` reuses the build. A short run gets
# the quick unoptimised build (2 minutes from clean), a long one the
# optimised build (7.5 minutes from clean, the fuzzed code 5-20x faster);
# FUZZ_BUILD=dev or release chooses. See Cargo.toml here.
build="${FUZZ_BUILD:-$( ((seconds < 300)) && echo dev || echo release)}"
case "$build" in
    dev) flags=(--sanitizer none --dev) ;;
    release) flags=(--sanitizer none --release --debug-assertions --codegen-units 16) ;;
    *) echo "FUZZ_BUILD must be dev or release" >&2; exit 2 ;;
esac

if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
echo "$(cargo fuzz --version); $(rustc --version); targets: ${targets[*]}; ${seconds}s each; $build build"

start=$SECONDS
cargo fuzz build "${flags[@]}"
echo "fuzz build: $((SECONDS - start))s"

# One target a core at a time; each writes its log and exit status.
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
fuzz_one() {
    local t="$1" rc=0
    mkdir -p "corpus/$t"
    # corpus/$t is written to; seeds/$t is only read.
    cargo fuzz run "${flags[@]}" "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$logs/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$logs/$t.rc"
}
for t in "${targets[@]}"; do
    while (($(jobs -rp | wc -l) >= $(nproc))); do
        wait -n || true
    done
    fuzz_one "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
    if [[ "$(cat "$logs/$t.rc")" == 0 ]]; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' || echo '?')
        cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1 || true)
        echo "fuzz $t: ok, $runs runs in ${seconds}s, ${cov:-cov: ?}, corpus $(find "corpus/$t" -type f | wc -l) inputs"
    else
        failed+=("$t")
        echo "fuzz $t: FAILED"
        tail -n 60 "$logs/$t.log"
    fi
done
echo "fuzz total: $((SECONDS - start))s"

if ((${#failed[@]} > 0)); then
    echo "fuzz: crashes in ${failed[*]}; inputs are in fuzz/artifacts/ (see fuzz/README.md)"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crash"
