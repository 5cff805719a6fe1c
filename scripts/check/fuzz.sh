#!/usr/bin/env bash
# Fuzzes the untrusted-input gates of stylize-core with cargo-fuzz (fuzz/, its own
# cargo project): each target in `cargo fuzz list` for SECONDS, one after the other,
# under AddressSanitizer with debug assertions. Prints and records (fuzz/artifacts/
# summary.txt, one log per target beside it) the runs, executions per second, corpus
# size and crashes of each, and fails if any target crashed, leaked, timed out or ran
# out of memory; libFuzzer leaves the input that did it in fuzz/artifacts/TARGET/.
#
# The corpus grows in fuzz/corpus/TARGET across runs; fuzz/regressions/TARGET (committed)
# holds inputs that once crashed a target. Seeds: fuzz/seeds/TARGET (committed),
# and for decode_image, made at run time, small images of every accepted format and 32 px
# copies of the sample JPEGs (assets/). The sample JPEGs
# themselves (88-406 KB) go once through decode_image as a check, and into its corpus
# only with FULL_PHOTOS=1: mutating inputs that size ran at 142 executions a second
# against 6,551 with the small seeds alone, and reached less code in the same 20 s.
#
# cargo-fuzz passes nightly flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets stable take them.
#
# Usage: scripts/check/fuzz.sh [SECONDS_PER_TARGET=60]   (FULL_PHOTOS=1 to seed with the photos)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SECONDS_PER_TARGET="${1:-60}"
ASSETS="${STYLIZE_ASSETS:-$PWD/assets}"
export RUSTC_BOOTSTRAP=1
fuzz="$PWD/fuzz"
# Release code with debug assertions and overflow checks; the build and every run must
# pass the same flags, or `cargo fuzz run` builds again.
flags=(-O -a)

log() { printf '\033[1mfuzz:\033[0m %s\n' "$*"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
log "$(cargo fuzz --version), $(rustc --version)"

log "building the targets"
cargo fuzz build "${flags[@]}"
mapfile -t targets < <(cargo fuzz list)
mkdir -p "$fuzz/artifacts"

# Seeds for decode_image: one small image per format and pixel layout, and the sample
# photos shrunk; the photos whole (progressive scans, EXIF, real encoders) as a check.
mkdir -p "$fuzz/corpus/decode_image"
photos=()
for dir in "$ASSETS/content" "$ASSETS/styles"; do
  if compgen -G "$dir/*.jpg" >/dev/null; then photos+=("$dir"/*.jpg); fi
done
cargo run --quiet --release --manifest-path "$fuzz/Cargo.toml" --example decode_seeds -- \
  "$fuzz/corpus/decode_image" "${photos[@]}"
if [ ${#photos[@]} -gt 0 ]; then
  log "the ${#photos[@]} sample photos through decode_image once"
  host="$(rustc -vV | sed -n 's/^host: //p')"
  "$fuzz/target/$host/release/decode_image" "${photos[@]}" >"$fuzz/artifacts/photos.log" 2>&1 || {
    tail -30 "$fuzz/artifacts/photos.log"
    exit 1
  }
  if [ "${FULL_PHOTOS:-0}" = 1 ]; then cp "${photos[@]}" "$fuzz/corpus/decode_image/"; fi
else
  log "no sample photos in $ASSETS; seeding decode_image with generated images only"
fi

summary="$fuzz/artifacts/summary.txt"
header="$(printf '%-14s %10s %8s %8s %9s %7s %s' target runs seconds exec/s corpus crashes result)"
rows=()
failed=0
for target in "${targets[@]}"; do
  corpus="$fuzz/corpus/$target"
  artifacts="$fuzz/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  inputs=("$corpus")
  [ -d "$fuzz/seeds/$target" ] && inputs+=("$fuzz/seeds/$target")
  # Inputs that once crashed a target, kept so each run checks them again.
  [ -d "$fuzz/regressions/$target" ] && inputs+=("$fuzz/regressions/$target")
  options=(-max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
  [ -f "$fuzz/dicts/$target.dict" ] && options+=(-dict="$fuzz/dicts/$target.dict")
  before="$(find "$artifacts" -type f | wc -l)"
  output="$fuzz/artifacts/$target.log"
  log "$target: $SECONDS_PER_TARGET s, seeds: ${inputs[*]}"
  status=0
  cargo fuzz run "${flags[@]}" "$target" "${inputs[@]}" -- "${options[@]}" >"$output" 2>&1 || status=$?

  runs="$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$output")"
  seconds="$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$output")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$output")"
  if [ -z "$runs" ]; then # stopped early: the last status line has the count
    runs="$(grep -o '^#[0-9]*' "$output" | tail -1 | tr -d '#')"
  fi
  size="$(find "$corpus" -type f | wc -l)"
  found="$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)"
  new=$((found - before))
  result=ok
  if [ "$status" -ne 0 ] || [ "$new" -gt 0 ]; then
    result="FAILED (exit $status)"
    failed=1
    log "$target failed; its log: $output"
    grep -m1 -A3 -E 'panicked at|ERROR: (libFuzzer|AddressSanitizer)' "$output" || tail -20 "$output"
    grep -E '^artifact_prefix=|Test unit written to' "$output" || true
  fi
  rows+=("$(printf '%-14s %10s %8s %8s %9s %7s %s' "$target" "${runs:-?}" "${seconds:-?}" "${rate:-?}" "$size" "$new" "$result")")
done

{
  echo "# scripts/check/fuzz.sh $SECONDS_PER_TARGET, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git rev-parse --short HEAD)"
  echo "$header"
  printf '%s\n' "${rows[@]}"
} | tee "$summary"
exit "$failed"
