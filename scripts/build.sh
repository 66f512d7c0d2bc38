#!/usr/bin/env bash
# Configures (once) and builds scws into build/ (or $SCWS_BUILD_DIR). Warnings are errors in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SCWS_BUILD_DIR:-build}
if [ ! -f "$dir/build.ninja" ]; then
  werror=false; [ "${CI:-}" = "true" ] && werror=true
  meson setup "$dir" -Dwerror=$werror >/dev/null
fi
ninja -C "$dir" -j"$(nproc)"
