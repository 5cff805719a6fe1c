#!/usr/bin/env bash
# Every test: formatting and lints, then unit, engine, CLI, service and end-to-end tests
# (CPU only) against real PostgreSQL, Redis, RabbitMQ and Garage, then the page in
# headless Chromium against the real stack.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/services.sh
source scripts/env.sh
if ! command -v chromium >/dev/null; then
  echo "test: installing Debian's chromium for the page's browser tests"
  apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
fi

cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
# The end-to-end tests start worker processes: build every binary first.
cargo build --release --workspace --bins --quiet
cargo test --release --workspace
scripts/test_page.sh
