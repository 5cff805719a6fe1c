#!/usr/bin/env bash
# A one-node Garage (S3-compatible store) for development and tests: installed once,
# configured under var/garage, started if it is not running, with a known dev key and
# the stylize bucket. Idempotent. Usage: scripts/lib/garage.sh [start|stop]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$STYLIZE_ROOT"

GARAGE_VERSION=2.5.0
dir="$STYLIZE_VAR/garage"
conf="$dir/garage.toml"
export GARAGE_CONFIG_FILE="$conf"
# Development credentials only (also the defaults in shared/src/config.rs).
key_id="${STYLIZE_S3_ACCESS_KEY:-GK5759f04b5b8b6bb4ba3fbdb8}"
secret="${STYLIZE_S3_SECRET_KEY:-2f8a0b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8}"
bucket="${STYLIZE_S3_BUCKET:-stylize}"

log() { printf '\033[1mgarage:\033[0m %s\n' "$*"; }

if [ "${1:-start}" = stop ]; then
  if [ -f "$dir/garage.pid" ]; then kill "$(cat "$dir/garage.pid")" 2>/dev/null || true; fi
  exit 0
fi

if [[ "$(garage --version 2>/dev/null || true)" != *"$GARAGE_VERSION"* ]]; then
  log "installing Garage $GARAGE_VERSION from crates.io (about 10 minutes, once per machine)"
  cargo install garage --locked --version "$GARAGE_VERSION" --quiet
fi

mkdir -p "$dir/meta" "$dir/data"
if [ ! -f "$conf" ]; then
  cat > "$conf" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
# What it stores is JPEG, PNG and WebP, already compressed: zstd would spend CPU for nothing.
compression_level = "none"
rpc_bind_addr = "127.0.0.1:3901"
rpc_public_addr = "127.0.0.1:3901"
rpc_secret = "$(openssl rand -hex 32 2>/dev/null || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:3900"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:3903"
TOML
fi

fail() { # MESSAGE: says why on stderr, with the errors in Garage's log, and stops
  echo "garage: $*" >&2
  if [ -s "$dir/garage.log" ]; then
    echo "garage: from $dir/garage.log:" >&2
    { grep -E -A1 'ERROR|panicked' "$dir/garage.log" || tail -n 10 "$dir/garage.log"; } \
      | head -n 12 | sed 's/^/  /' >&2 || true
  fi
  exit 1
}

if ! garage status >/dev/null 2>&1; then
  # A Garage from another checkout of stylize (a CI clone beside a working copy) holds
  # the ports but not this one's data or secret: this checkout's takes its place.
  ours="$(cat "$dir/garage.pid" 2>/dev/null || true)"
  if others="$(pgrep -x garage | grep -vx "${ours:-none}")"; then
    log "stopping the Garage another checkout started (pid $(echo $others))"
    # shellcheck disable=SC2086 # one pid a word
    kill $others 2>/dev/null || true
    for _ in $(seq 50); do pgrep -x garage | grep -vqx "${ours:-none}" || break; sleep 0.2; done
  fi
  log "starting"
  nohup garage server >"$dir/garage.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/garage.pid"
  for _ in $(seq 50); do
    garage status >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || fail "the server exited at start-up"
    sleep 0.2
  done
  garage status >/dev/null 2>&1 || fail "the server did not answer within 10 s"
fi

# Read whole outputs before matching: `garage ... | grep -q` lets grep exit early, and
# garage aborts on the broken pipe, which pipefail turns into a wrong answer.
layout="$(garage layout show 2>&1 || true)"
if grep -q "No nodes currently have a role" <<<"$layout"; then
  node="$(garage node id -q | cut -d@ -f1)"
  garage layout assign -z dc1 -c 1G "$node" >/dev/null
  garage layout apply --version 1 >/dev/null
  log "layout applied"
fi
# A freshly applied layout takes a moment to be usable; retry until it is.
if ! garage key info "$key_id" >/dev/null 2>&1; then
  for attempt in $(seq 50); do
    garage key import --yes -n stylize-dev "$key_id" "$secret" >/dev/null 2>&1 && break
    [ "$attempt" = 50 ] && garage key import --yes -n stylize-dev "$key_id" "$secret"
    sleep 0.2
  done
fi
if ! garage bucket info "$bucket" >/dev/null 2>&1; then
  garage bucket create "$bucket" >/dev/null
fi
garage bucket allow --read --write --owner "$bucket" --key "$key_id" >/dev/null
# Any HTTP answer will do (anonymous requests are refused): the S3 port is serving.
curl -s -o /dev/null --max-time 5 http://127.0.0.1:3900/ || fail "S3 does not answer on 127.0.0.1:3900"
log "S3 on http://127.0.0.1:3900, bucket $bucket"
