#!/usr/bin/env bash
# tests/sanitize.sh — the whole doctest suite again, built with AddressSanitizer and
# UndefinedBehaviorSanitizer in build-asan/ (the lacoot program and the examples too, since the
# suite runs them). Any report — a leak, an out-of-bounds access, a signed overflow, a misaligned
# load — fails its test (meson test sets halt_on_error and abort_on_error). The CUDA backend is
# left out: the sanitizers do not follow the GPU's memory; so are the benchmarks, which no test
# runs. Extra arguments go to meson test (a suite name, --suite data, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -d build-asan ]]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dcuda=disabled -Dbenchmarks=false
fi
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
meson test -C build-asan --print-errorlogs --timeout-multiplier 3 "$@"
