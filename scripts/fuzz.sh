#!/usr/bin/env bash
# Runs a libFuzzer campaign on one or all targets: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# New interesting inputs are merged into tests/fuzz/corpus/<target>/, crashes land in
# tests/fuzz/crashes/<target>/ (both replayed by the test suite).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}; shift || true
if [ ! -d build-fuzz ]; then
  # clang for C as well: mbedTLS (C) gets the fuzzing instrumentation and sanitizers too.
  CC=clang-14 CXX=clang++-14 meson setup build-fuzz -Dfuzzing=true -Dbuildtype=debugoptimized >/dev/null
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  ninja -C build-fuzz >/dev/null
else
  ninja -C build-fuzz "${targets[@]/#/tests/fuzz/fuzz_}" >/dev/null
fi
if [ ${#targets[@]} -eq 0 ]; then
  for f in build-fuzz/tests/fuzz/fuzz_*; do [ -x "$f" ] && targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t; crashes=tests/fuzz/crashes/$t
  mkdir -p "$corpus" "$crashes"
  work=$(mktemp -d)
  echo "fuzz: $t for ${secs}s"
  ./build-fuzz/tests/fuzz/fuzz_"$t" -max_total_time="$secs" -artifact_prefix="$crashes/" \
      -print_final_stats=1 "$work" "$corpus" 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' || true
  ./build-fuzz/tests/fuzz/fuzz_"$t" -merge=1 "$corpus" "$work" >/dev/null 2>&1 || true
  rm -rf "$work"
done
