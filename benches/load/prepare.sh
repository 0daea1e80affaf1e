# Sourced by run.sh and instructions.sh: installs from Debian whatever of
# the given "command:package" pairs is missing, plus what every harness
# needs, then builds the gateway and the helpers in release mode.
#
#   source benches/load/prepare.sh wrk:wrk nginx:nginx
prepare() {
  local missing=() pair
  for pair in "$@" python3:python3 cmake:cmake; do # pingora builds zlib-ng with cmake
    local cmd="${pair%%:*}" pkg="${pair##*:}"
    # Debian keeps nginx in /usr/sbin (off a user's PATH) and PostgreSQL's
    # initdb in /usr/lib/postgresql/<version>/bin (off everyone's).
    command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] ||
      compgen -G "/usr/lib/postgresql/*/bin/$cmd" >/dev/null || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  cargo build --release --locked --bin tfa-gateway \
    --example bench_upstream --example bench_passthrough --example bench_rate --example seed_store
}
