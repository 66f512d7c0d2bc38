#!/usr/bin/env bash
# libFuzzer (clang-14, ASan + UBSan) on the fuzz targets tests/fuzz/fuzz_<target>.cpp, built into
# build-fuzz/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   a campaign: SECONDS (default 60) per target, all targets
#                                           unless named. New interesting inputs join
#                                           tests/fuzz/corpus/<target>/, which is then minimised
#                                           (-merge=1, at most ~300 inputs; hand-named seeds always
#                                           stay); crashes land in
#                                           tests/fuzz/crashes/<target>/. The suite replays both.
#   scripts/fuzz.sh --check [SECONDS]       the suite's check: builds only the fuzz targets, runs each
#                                           over its corpus and saved crashes, then fuzzes it for up
#                                           to SECONDS (default 3) without touching the corpus. One
#                                           line per target, then "fuzz: N passed, M failed"; exits
#                                           non-zero on any failure, a failed build included.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
dir=build-fuzz

# Every tests/fuzz/fuzz_<name>.cpp is a target: a source without a working binary is a failure.
all_targets() {
  local f
  for f in tests/fuzz/fuzz_*.cpp; do f=${f##*/fuzz_}; echo "${f%.cpp}"; done
}

count() { find "$1" -type f | wc -l; }

# Configures build-fuzz once and builds the named targets; returns non-zero if either fails.
build() {
  if [ ! -f "$dir/build.ninja" ]; then
    # clang for C as well: mbedTLS (C) gets the fuzzing instrumentation and sanitizers too. Meson
    # only puts ccache in front of compilers it picked itself, so name it here when present.
    local cc=clang-14 cxx=clang++-14 werror=false
    if command -v ccache >/dev/null; then cc="ccache $cc"; cxx="ccache $cxx"; fi
    [ "${CI:-}" = "true" ] && werror=true
    local log
    log=$(mktemp)
    CC=$cc CXX=$cxx meson setup "$dir" -Dfuzzing=true -Dbuildtype=debugoptimized \
        -Dwerror=$werror >"$log" 2>&1 || { tail -30 "$log"; rm -f "$log"; return 1; }
    rm -f "$log"
  fi
  local t outputs=()
  for t in "$@"; do outputs+=("tests/fuzz/fuzz_$t"); done
  ninja -C "$dir" -j"$(nproc)" "${outputs[@]}" >"$dir/fuzz-build.log" 2>&1 \
    || { grep -E -B2 -A20 '^FAILED' "$dir/fuzz-build.log" | head -80; return 1; }
}

# Runs one target over its corpus and crashes, then fuzzes it: writes "ok ..." or "FAILED ..." to
# $dir/fuzz-check/<target>.result, the libFuzzer log next to it, artifacts in <target>/.
check_one() {
  local t=$1 secs=$2 out=$dir/fuzz-check
  local corpus=tests/fuzz/corpus/$t crashes=tests/fuzz/crashes/$t work=$out/$t start=$SECONDS
  rm -rf "$work"; mkdir -p "$work/new"
  local seeds=() n=0 d
  for d in "$corpus" "$crashes"; do
    [ -d "$d" ] || continue
    seeds+=("$d"); n=$(( n + $(count "$d") ))
  done
  if [ ! -x "$dir/tests/fuzz/fuzz_$t" ]; then
    echo "FAILED: no binary $dir/tests/fuzz/fuzz_$t" >"$out/$t.result"; return
  fi
  if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
    echo "FAILED: empty corpus $corpus" >"$out/$t.result"; return
  fi
  # The first folder receives new inputs: a scratch one, so the check never edits the corpus.
  # -timeout: one input running longer than that is a hang, not a slow machine.
  if "$dir/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=30 -print_final_stats=1 \
      -artifact_prefix="$work/" "$work/new" "${seeds[@]}" >"$out/$t.log" 2>&1; then
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
    echo "ok: $n inputs replayed, ${runs:-?} runs in $((SECONDS - start)) s" >"$out/$t.result"
  else
    local why
    why=$(grep -m1 -E '^SUMMARY|ERROR: libFuzzer|==ERROR' "$out/$t.log" || tail -1 "$out/$t.log")
    echo "FAILED: ${why} (log: $out/$t.log)" >"$out/$t.result"
  fi
}

check() {
  local secs=${1:-3} targets t passed=0 failed=0 jobs
  mapfile -t targets < <(all_targets)
  if ! build "${targets[@]}"; then
    echo "fuzz: build of the fuzz targets failed (log: $dir/fuzz-build.log)"
    echo "fuzz: 0 passed, ${#targets[@]} failed"
    return 1
  fi
  rm -rf "$dir/fuzz-check"; mkdir -p "$dir/fuzz-check"
  jobs=$(nproc)
  for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    check_one "$t" "$secs" &
  done
  wait
  for t in "${targets[@]}"; do
    local r
    r=$(cat "$dir/fuzz-check/$t.result" 2>/dev/null || echo "FAILED: no result")
    echo "fuzz: $t $r"
    case $r in ok:*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac
  done
  echo "fuzz: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# A campaign keeps at most about this many inputs per target.
kept_max=300

# minimise BIN OUT CORPUS WORK [FLAG...]: OUT gets the corpus's hand-named seeds, then whatever else
# in CORPUS and WORK (inputs named by libFuzzer after their SHA-1) adds coverage to them. OUT.ok
# marks success, OUT.log keeps libFuzzer's output.
minimise() {
  local bin=$1 out=$2 corpus=$3 work=$4; shift 4
  rm -rf "$out" "$out.ok"; mkdir -p "$out"
  find "$corpus" -maxdepth 1 -type f -regextype egrep ! -regex '.*/[0-9a-f]{40}' -exec cp {} "$out/" \;
  "$bin" -merge=1 "$@" "$out" "$corpus" "$work" >"$out.log" 2>&1 && touch "$out.ok"
}

campaign() {
  local secs=${1:-60}; shift || true
  local targets=("$@") t
  [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(all_targets)
  build "${targets[@]}" || exit 1
  for t in "${targets[@]}"; do
    local bin=./$dir/tests/fuzz/fuzz_$t corpus=tests/fuzz/corpus/$t crashes=tests/fuzz/crashes/$t
    mkdir -p "$corpus" "$crashes"
    local work min
    work=$(mktemp -d); min=$(mktemp -d)
    echo "fuzz: $t for ${secs}s ($(count "$corpus") corpus inputs)"
    "$bin" -max_total_time="$secs" -artifact_prefix="$crashes/" -print_final_stats=1 "$work" "$corpus" 2>&1 \
      | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' || true
    # Minimise on every coverage feature (edges and their hit-count ranges); a corpus still larger
    # than kept_max is minimised on edges alone, which keeps the suite's replays short.
    local how="all features"
    if minimise "$bin" "$min" "$corpus" "$work" && [ "$(count "$min")" -gt "$kept_max" ]; then
      how="edges only"
      minimise "$bin" "$min" "$corpus" "$work" -use_counters=0
    fi
    if [ -f "$min.ok" ]; then
      find "$corpus" -maxdepth 1 -type f -regextype egrep -regex '.*/[0-9a-f]{40}' -delete
      find "$min" -maxdepth 1 -type f -exec cp -n {} "$corpus/" \;
      echo "fuzz: $t corpus now $(count "$corpus") inputs (minimised on $how)"
    else
      echo "fuzz: $t: merge failed, corpus left as it was"; tail -5 "$min.log"
    fi
    rm -rf "$work" "$min" "$min.ok" "$min.log"
  done
}

if [ "${1:-}" = "--check" ]; then
  shift
  check "$@"
else
  campaign "$@"
fi
