#!/usr/bin/env bash
# Set up, then repaint the sample photo in The Starry Night's style with the default
# settings and print where the result is. Extra arguments go to `stylize` (e.g. --size 256).
# (The HTTP service — api, worker, queue, storage — arrives with issue 3.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
source scripts/env.sh

mkdir -p var/out
output="var/out/tubingen-starry-night.jpg"
target/release/stylize \
  -c "$STYLIZE_ASSETS/content/tubingen.jpg" \
  -s "$STYLIZE_ASSETS/styles/starry-night.jpg" \
  -o "$output" --preview-dir var/out/previews "$@"
echo "result: $STYLIZE_ROOT/$output (previews in var/out/previews)"
