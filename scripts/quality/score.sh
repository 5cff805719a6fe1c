#!/usr/bin/env bash
# The quality benchmark (docs/benchmarks/quality.md, "Quality against the reference"):
# tubingen painted with each painting under each SETTING, every picture scored as
# jcjohnson/neural-style's published outputs are (assets/reference): style error and
# content error, lower is better. Prints one Markdown row per run, with the reference's
# own scores first for each painting, the run's seconds and its cost in full-size
# (512 px) iterations, and writes the pictures to OUT_DIR.
#
# Usage: scripts/quality/score.sh OUT_DIR SETTING...
#   SETTING: a quality (draft, fine, classic) with optional JSON over it, e.g.
#   'fine' or 'classic+{"optimizer": "lbfgs", "size": 512}'.
#   Environment: PAINTINGS (default: the reference's three), SIZE, DEVICE (cpu).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/env.sh
cargo build --release --quiet --workspace --example quality
exec target/release/examples/quality "$@"
