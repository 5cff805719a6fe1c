#!/usr/bin/env bash
# Every test: formatting and lints, then unit, engine, CLI, service and end-to-end tests
# (CPU only) against real PostgreSQL, Redis, RabbitMQ and Garage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/services.sh
source scripts/env.sh

cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
# The end-to-end tests start worker processes: build every binary first.
cargo build --release --workspace --bins --quiet
cargo test --release --workspace
