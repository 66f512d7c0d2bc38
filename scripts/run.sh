#!/usr/bin/env bash
# Installs what scws needs, builds it, and starts the main job: `scws run`, the embedded card and
# handset gateway in one process (extra arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh >/dev/null
exec "${SCWS_BUILD_DIR:-build}/sim/scws" run "$@"
