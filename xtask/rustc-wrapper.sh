#!/usr/bin/env bash
# The compiler of the workspace's own crates (`.cargo/config.toml`'s `rustc-workspace-wrapper`):
# their tests and examples compile through clippy-driver, all else through rustc itself, so the
# libraries and binaries `cargo xtask deploy` builds are the very ones the tests link.
# Under `cargo xtask ci` (DAL_CI_DRIVER set), xtask's driver decides instead: the same split, with
# clippy's warnings denied and the docs checked (xtask/src/ci_driver.rs). clippy-driver records
# CLIPPY_ARGS, which `ci` sets and other runs do not, so a test compiled outside `ci` is compiled
# again, and checked, by the next `ci`.
# cargo runs it as: rustc-wrapper.sh <rustc> <rustc's arguments>. bash, not sh: dash drops the
# variables whose names are not a shell's (`CARGO_BIN_EXE_data-and-ai`), which the tests read.
if [ -n "${DAL_CI_DRIVER:-}" ]; then exec "$DAL_CI_DRIVER" "$@"; fi
for arg in "$@"; do
  case "$arg" in
    --test | examples/*.rs | */examples/*.rs)
      clippy="$(dirname "$1")/clippy-driver"
      [ -x "$clippy" ] || clippy="$(command -v clippy-driver || true)"
      if [ -n "$clippy" ]; then exec "$clippy" "$@"; fi
      break
      ;;
  esac
done
exec "$@"
