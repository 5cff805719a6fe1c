#!/usr/bin/env bash
# Every test: formatting and lints, then unit, engine, CLI, service and end-to-end tests
# (CPU only) against real PostgreSQL, Redis, RabbitMQ and Garage, then the page in
# headless Chromium against the real stack, static checks of the deployment files, the
# deployment itself (the images built and docker-compose.yml run in containers), and
# every benchmark run to its end with its smallest settings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/services.sh
source scripts/env.sh
# Debian's chromium for the page's browser tests, promtool for the deployment checks.
install_debian() {
  echo "test: installing Debian's ${*: -1}"
  apt-get install -y -qq "$@" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; }
}
command -v chromium >/dev/null || install_debian chromium
command -v promtool >/dev/null || install_debian --no-install-recommends prometheus

scripts/check/deploy.sh
# Two commands, not `a && b`: under set -e a failing `a` there would not stop the script.
python3 scripts/check/links.py --self-test
python3 scripts/check/links.py
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
# The end-to-end tests start worker processes: build every binary first.
cargo build --release --workspace --bins --quiet
cargo test --release --workspace
scripts/check/page.sh
scripts/check/containers.sh
scripts/check/benchmarks.sh
