#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: unit tests, fuzz-corpus replays, a short
# libFuzzer check of every fuzz target (scripts/fuzz.sh --check, in build-fuzz/) and the end-to-end
# tests over the real stack (pcscd + vpcd + the scws card + real clients).
# The end-to-end tests run in a private mount namespace with a tmpfs on /run/pcscd: pcscd's socket
# and pid file live at fixed paths there, so only one daemon can run per mount namespace, and this
# way the tests' pcscd never meets a system one.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh || exit 1
dir=${SCWS_BUILD_DIR:-build}
export SCWS_BUILD_DIR=$PWD/$dir

status=0
echo "== unit tests and fuzz corpus replays (meson test)"
meson test -C "$dir" --print-errorlogs --num-processes "$(nproc)" | tee "$dir/unit.log" || status=1
unit_ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$dir/unit.log" | tail -1)
unit_fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$dir/unit.log" | tail -1)

echo "== fuzz targets under libFuzzer, ASan and UBSan (scripts/fuzz.sh --check)"
./scripts/fuzz.sh --check | tee "$dir/fuzz.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fuzz_ok=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$dir/fuzz.log" | tail -1)
fuzz_fail=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$dir/fuzz.log" | tail -1)
if [ -z "$fuzz_fail" ]; then fuzz_fail=1; fi  # the check did not finish: count it as a failure

echo "== end-to-end tests (pytest, private mount namespace)"
mkdir -p /run/pcscd
unshare --mount --propagation private -- bash -c '
  mount -t tmpfs tmpfs /run/pcscd || exit 3
  exec /usr/bin/python3 -m pytest -p no:cacheprovider tests/e2e -v "$@"' bash "$@" \
  | tee "$dir/e2e.log"
e2e_rc=${PIPESTATUS[0]}
[ "$e2e_rc" -eq 0 ] || status=1
# pytest's closing line, e.g. "==== 2 failed, 30 passed, 1 error in 12.3s ====".
last=$(grep -E '^=+ .* in [0-9.]+s' "$dir/e2e.log" | tail -1)
e2e_ok=$(echo "$last" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
e2e_fail=$(echo "$last" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s+=$1} END {print s+0}')
if [ -z "$last" ]; then e2e_fail=1; fi  # pytest did not finish: count it as a failure

passed=$(( ${unit_ok:-0} + ${fuzz_ok:-0} + ${e2e_ok:-0} ))
failed=$(( ${unit_fail:-0} + fuzz_fail + ${e2e_fail:-0} ))
[ "$failed" -eq 0 ] || status=1
echo "summary: $passed passed, $failed failed"
exit $status
