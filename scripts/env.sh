# Sourced by the other scripts: where the project's tools, libtorch and data live.
# Every path is relative to the checkout, so the scripts work from any clone.
STYLIZE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export STYLIZE_ROOT
export STYLIZE_VENV="$STYLIZE_ROOT/.venv"
export STYLIZE_VAR="$STYLIZE_ROOT/var"
# tch links against the torch wheel in the virtualenv (libtorch 2.11.0 for tch 0.24).
export LIBTORCH_USE_PYTORCH=1
# torch-sys asks the first `python` on PATH where torch is.
export PATH="$STYLIZE_VENV/bin:$PATH"
# libtorch's shared libraries, from the torch wheel (set-up calls this again once it has
# installed the wheel).
add_torch_to_library_path() {
  local lib
  lib="$(echo "$STYLIZE_VENV"/lib/python3*/site-packages/torch/lib)"
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
add_torch_to_library_path
export STYLIZE_WEIGHTS="${STYLIZE_WEIGHTS:-$STYLIZE_VAR/vgg19.safetensors}"
# Sample paintings and photo live beside the checkout, not in it.
export STYLIZE_ASSETS="${STYLIZE_ASSETS:-$STYLIZE_ROOT/../shared/assets}"
