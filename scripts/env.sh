# Sourced by the other scripts: where the project's tools, libtorch and data live.
# shellcheck shell=bash
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
# installed the wheel, and stops if they are still missing). Says so on stderr, and
# answers non-zero, when they are not there.
add_torch_to_library_path() {
  local lib
  for lib in "$STYLIZE_VENV"/lib/python3*/site-packages/torch/lib; do
    if [ -d "$lib" ]; then
      export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      return 0
    fi
  done
  if [ -d "$STYLIZE_VENV" ]; then
    echo "env.sh: libtorch not found: no torch wheel in $STYLIZE_VENV; run scripts/setup.sh" >&2
  else
    echo "env.sh: libtorch not found: no virtualenv at $STYLIZE_VENV yet; scripts/setup.sh makes it" >&2
  fi
  return 1
}
# Sourced before set-up has run, too: a warning, not an exit.
add_torch_to_library_path || true
export STYLIZE_WEIGHTS="${STYLIZE_WEIGHTS:-$STYLIZE_VAR/vgg19.safetensors}"
# The fast network (scripts/weights/convert_fast.py) and the reference outputs its tests
# compare against (scripts/weights/fast_reference.py).
export STYLIZE_FAST_WEIGHTS="${STYLIZE_FAST_WEIGHTS:-$STYLIZE_VAR/fast.safetensors}"
export STYLIZE_FAST_REFERENCE="${STYLIZE_FAST_REFERENCE:-$STYLIZE_VAR/fast_reference.safetensors}"
# The preset paintings and the sample photo, committed with their credits (assets/).
export STYLIZE_ASSETS="${STYLIZE_ASSETS:-$STYLIZE_ROOT/assets}"
