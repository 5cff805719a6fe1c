#!/usr/bin/env bash
# The engine on a GPU: 500 iterations at 512 px (tubingen × starry-night, default
# settings), twice, with seconds end to end (process start to image written) and per
# iteration. Runs where PyTorch 2.11 is installed system-wide (its lib/ provides
# libtorch) and target/release/stylize and the weights were built here and carried.
#
# Usage: scripts/bench_gpu.sh ASSETS_DIR WEIGHTS OUT_DIR
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
assets="$1" weights="$2" out="$3"
torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
for run in 1 2; do
  start=$(date +%s.%N)
  target/release/stylize -c "$assets/content/tubingen.jpg" -s "$assets/styles/starry-night.jpg" \
    -o "$out/gpu-512-run$run.png" --size 512 -n 500 --device cuda --weights "$weights" \
    --log-every 100
  end=$(date +%s.%N)
  echo "run $run: end to end $(echo "$end - $start" | bc) s"
done
