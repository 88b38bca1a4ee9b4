#!/usr/bin/env bash
# Build benchmark: a fresh clone with an empty target directory runs the README's two commands;
# then `cargo xtask ci` warm (the target built at the parent commit); then the incremental rebuild
# after one family crate is touched. Prints one line per step and a JSON summary; nothing is left
# behind but the summary file.
#
#   bench/build.sh [--keep] [--out bench/build-latest.json]
#
# The emulator's venv is installed as part of the first command, as on a new machine.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/bench/build-latest.json"
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --out) out="$2"; shift ;;
    *) echo "unknown argument: $1 (use --keep, --out FILE)" >&2; exit 2 ;;
  esac
  shift
done

work="$(mktemp -d)"
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$work"; else echo "kept $work"; fi; }
trap cleanup EXIT
git clone --quiet "$here" "$work/clone"
cd "$work/clone"
export CARGO_TARGET_DIR="$work/target"
unset DAL_EMULATOR_VENV AWS_REGION AWS_PROFILE AWS_ENDPOINT_URL

step() { # name, command...
  local name="$1"; shift
  local start end
  start=$(date +%s%N)
  if ! "$@" >"$work/$name.log" 2>&1; then
    echo "$name failed; log: $work/$name.log" >&2
    keep=1
    exit 1
  fi
  end=$(date +%s%N)
  local ms=$(( (end - start) / 1000000 ))
  printf '%s %d.%d\n' "$name" $((ms / 1000)) $(((ms % 1000) / 100)) | tee -a "$work/times"
}

step deploy_local cargo xtask deploy local --auto-approve
cargo xtask local down >/dev/null 2>&1 || true
step ci cargo xtask ci
tests=$(grep -Eo '[0-9]+ tests run: [0-9]+ passed' "$work/ci.log" | tail -1)
# Where each `ci` run's time went: the steps' own timings (`<== step: N s` in its log).
steps_of() { grep '^<== ' "$1" | sed -e 's/^<== //' -e 's/"//g' | paste -sd ';' | sed 's/;/; /g'; }
ci_steps=$(steps_of "$work/ci.log")
warm_ci_steps=""
warm_changed=""
# Warm: the target directory built at the parent commit (what `ci` builds, untimed), the venv
# present; then `cargo xtask ci` at the commit measured.
if git rev-parse --quiet --verify HEAD~1 >/dev/null; then
  # `ci --build-only` builds what `ci` builds, with its very flags: a warmup of hand-copied
  # commands (clippy without `-D warnings`, the docs without `RUSTDOCFLAGS`) left `ci` to redo
  # clippy and the docs of every crate, a minute of the warm figure.
  git checkout --quiet HEAD~1
  cargo xtask ci --build-only >"$work/warmup.log" 2>&1 || true
  git checkout --quiet -
  step warm_ci cargo xtask ci
  warm_ci_steps=$(steps_of "$work/warm_ci.log")
  # What the warm run had to rebuild: the folders the measured commit changed.
  warm_changed=$(git diff --name-only HEAD~1 HEAD | awk -F/ '{print (NF > 2 ? $1 "/" $2 : $1)}' | sort -u | paste -sd ',' | sed 's/,/, /g')
fi
# One family crate edited: what `cargo xtask ci` does before the tests start (the launcher, the
# format check, and the one build that runs clippy, the docs and the test build), without the tests.
echo "// touched by bench/build.sh" >> crates/data-redis/src/lib.rs
step incremental_build cargo xtask ci --build-only
git checkout --quiet crates/data-redis/src/lib.rs

cores=$(nproc)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"commit\": \"$(git rev-parse --short HEAD)\","
  echo "  \"machine\": \"$cores cores, $mem\","
  echo "  \"tests\": \"$tests\","
  echo "  \"ci_steps\": \"$ci_steps\","
  echo "  \"warm_ci_steps\": \"$warm_ci_steps\","
  echo "  \"warm_changed\": \"$warm_changed\","
  awk '{printf "  \"%s_s\": %s,\n", $1, $2}' "$work/times"
  total=$(awk '$1=="deploy_local"||$1=="ci" {s+=$2} END {printf "%.1f", s}' "$work/times")
  incr=$(awk '$1 ~ /^incremental/ {s+=$2} END {printf "%.1f", s}' "$work/times")
  echo "  \"two_commands_s\": $total,"
  echo "  \"incremental_before_tests_s\": $incr,"
  echo "  \"target_warm_ci_s\": 360,"
  echo "  \"target_two_commands_s\": 900,"
  echo "  \"target_incremental_s\": 30"
  echo "}"
} > "$out"
cat "$out"

# The README's table is this run's own output (bench/build-table.sh writes it there).
"$here/bench/build-table.sh" "$out"
