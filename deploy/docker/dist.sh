#!/usr/bin/env bash
# Assembles what one of stylize's images carries, from a checkout whose release build,
# virtualenv and weights are made (scripts/setup.sh), into OUT:
#   api:    bin/stylize-api, web/ (the built page), presets/ (the preset paintings)
#   worker: bin/stylize-worker, lib/ (libtorch and what it loads), weights/
# The Dockerfiles' final stages only copy OUT, so an image built from binaries made on
# the host (deploy/dist, this machine) and one built from source inside `docker build`
# (this script run in the Dockerfile's source stage) are packaged by the same lines.
#
# Usage: deploy/docker/dist.sh api OUT
#        deploy/docker/dist.sh worker OUT cpu|cuda
# The worker's `cpu` flavour drops the CUDA backend: the torch wheel's libtorch_cuda and
# the CUDA libraries it needs (cuDNN, cuBLAS, NCCL…) are about 3 GB that a CPU never
# loads. patchelf takes libtorch_cuda off the needed lists of the worker and of
# libtorch.so (a shim that only names the backends), and the image carries the shared
# libraries the worker then loads, found by the dynamic loader itself. `cuda` carries
# the wheel's libraries whole, since CUDA loads parts of them (cuDNN's engines,
# NVRTC) with dlopen, out of ldd's sight.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
component="${1:?usage: dist.sh api|worker OUT [cpu|cuda]}"
out="${2:?usage: dist.sh api|worker OUT [cpu|cuda]}"
release="${CARGO_TARGET_DIR:-target}/release"

rm -rf "$out"
mkdir -p "$out/bin"
case "$component" in
  api)
    cp "$release/stylize-api" "$out/bin/"
    cp -r web/static "$out/web"
    cp -r "${STYLIZE_ASSETS:-assets}/styles" "$out/presets"
    ;;
  worker)
    flavour="${3:?usage: dist.sh worker OUT cpu|cuda}"
    site="$(echo "${STYLIZE_VENV:-.venv}"/lib/python3*/site-packages)"
    [ -d "$site/torch/lib" ] || { echo "dist.sh: no torch wheel under $site (run scripts/setup.sh)" >&2; exit 1; }
    cp "$release/stylize-worker" "$out/bin/"
    mkdir -p "$out/lib" "$out/weights"
    cp "${STYLIZE_WEIGHTS:-var/vgg19.safetensors}" "$out/weights/vgg19.safetensors"
    cp "${STYLIZE_FAST_WEIGHTS:-var/fast.safetensors}" "$out/weights/fast.safetensors"
    case "$flavour" in
      cuda)
        find "$site/torch/lib" "$site"/nvidia/*/lib -maxdepth 1 -name '*.so*' \
          ! -name 'libtorch_python.so' -exec cp -L {} "$out/lib/" \;
        ;;
      cpu)
        staging="$(mktemp -d)"
        trap 'rm -rf "$staging"' EXIT
        cp "$site"/torch/lib/*.so* "$staging/"
        patchelf --remove-needed libtorch_cuda.so "$out/bin/stylize-worker" "$staging/libtorch.so"
        # Every library the worker loads from the wheel (CUDA's runtime and profiler
        # stay: libtorch_cpu names them, and they load without a GPU).
        LD_LIBRARY_PATH="$staging:$(printf '%s:' "$site"/nvidia/*/lib)" ldd "$out/bin/stylize-worker" \
          | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' \
          | grep -e "^$staging/" -e "^$site/" \
          | while read -r library; do cp -L "$library" "$out/lib/"; done
        [ ! -e "$out/lib/libtorch_cuda.so" ] \
          || { echo "dist.sh: something still needs libtorch_cuda" >&2; exit 1; }
        ;;
      *) echo "dist.sh: flavour $flavour is neither cpu nor cuda" >&2; exit 1 ;;
    esac
    ;;
  *) echo "dist.sh: no component $component (api or worker)" >&2; exit 1 ;;
esac
# Readable by the image's user whatever the umask here was.
chmod -R a+rX "$out"
du -sh "$out" | sed "s|^|dist.sh: $component |"
