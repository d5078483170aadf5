#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [TARGET...] — builds the libFuzzer targets (clang, AddressSanitizer
# + UndefinedBehaviorSanitizer) in build-fuzz/ and runs each for SECONDS (default 30) on its seed
# corpus, tests/fuzz/corpus/TARGET (read, never written: new inputs go to a temporary folder).
# Targets: idx cifar image safetensors npy checkpoint (default: all). Prints one line per target
# (executions, coverage, corpus size); a crash, a sanitizer report, an exception other than
# lacoot::Error, a leak or a timeout stops with the reproducer kept as build-fuzz/crash-TARGET-*
# and a non-zero status. Needs the Debian packages clang and libclang-rt-dev (tools/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(idx cifar image safetensors npy checkpoint); fi

if [[ ! -d build-fuzz ]]; then
  CXX=clang++ meson setup build-fuzz -Dfuzz=true -Dcuda=disabled -Dnative=false \
    -Db_sanitize=address,undefined -Db_lundef=false > build-fuzz.log 2>&1 || { cat build-fuzz.log; exit 1; }
  mv build-fuzz.log build-fuzz/setup.log
fi
ninja -C build-fuzz > build-fuzz/ninja.log 2>&1 || { tail -40 build-fuzz/ninja.log; echo "fuzz: the build failed (build-fuzz/ninja.log)"; exit 1; }

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  log=build-fuzz/fuzz-$t.log
  if build-fuzz/tests/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix=build-fuzz/crash-"$t"- "$work" tests/fuzz/corpus/"$t" > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz $t: ${seconds} s, $runs executions, $cov, corpus $(ls "$work" | wc -l) new inputs: no finding"
  else
    echo "fuzz $t: FOUND A PROBLEM (log: $log; reproducer: build-fuzz/crash-$t-*)"
    grep -m 12 -E "ERROR|runtime error|deadly|uncaught|SUMMARY|==[0-9]+==" "$log" || tail -30 "$log"
    status=1
  fi
  rm -rf "$work"
done
exit $status
