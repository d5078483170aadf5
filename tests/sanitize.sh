#!/usr/bin/env bash
# tests/sanitize.sh [--all | MESON-TEST-ARGS...] — doctest suites again, built with
# AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/. Any report (a leak, an
# out-of-bounds access, a signed overflow, a misaligned load) fails its test: meson test sets
# halt_on_error and abort_on_error. The CUDA backend is left out (the sanitizers do not follow
# the GPU's memory), and so are the benchmarks, which no test runs.
#
#   bash tests/sanitize.sh           the unit suites below: tensors, autograd, every op's kernels,
#                                    the file formats, optimisers, checkpoints, optimal transport,
#                                    the regulariser and Algorithm 1, the dataset readers. Only
#                                    their programs are built. This is the part .ci/run runs.
#   bash tests/sanitize.sh --all     every suite, the lacoot program and the examples too (the
#                                    whole models, the training smoke run, the CLI, mpirun): on a
#                                    2-core machine about an hour more; run it before resolving
#                                    an issue.
#   bash tests/sanitize.sh nn graph  those suites (after building everything), any meson test
#                                    arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -d build-asan ]]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dcuda=disabled -Dbenchmarks=false
fi
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
units=(core ops_elementwise ops_reduce ops_linalg ops_norm_pool ops_shape io optim diffusion ot data)
run_tests=(meson test -C build-asan --print-errorlogs --timeout-multiplier 3)
if (($# == 0)); then
  meson compile -C build-asan test_units
  "${run_tests[@]}" --no-rebuild "${units[@]}"
elif [[ $1 == --all ]]; then
  shift
  "${run_tests[@]}" "$@"
else
  "${run_tests[@]}" "$@"
fi
