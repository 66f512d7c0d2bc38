#!/usr/bin/env bash
# Installs every Debian 12 package scws needs to build, run and test.
# Idempotent: packages already present are skipped quickly by apt.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
PKGS=(
  # build; clang-14 and libclang-rt-14-dev for scripts/fuzz.sh (libFuzzer, ASan and UBSan: the
  # libFuzzer runtime ships in libclang-rt-14-dev, libfuzzer-14-dev is not needed)
  build-essential pkg-config meson ninja-build clang-14 libclang-rt-14-dev
  # mbedTLS source for the card build (scripts/fetch-mbedtls.sh: apt-get source, dpkg-source)
  dpkg-dev apt
  libpcsclite-dev libcli11-dev doctest-dev libasio-dev libtomlplusplus-dev libsqlite3-dev
  libssl-dev  # OpenSSL 3 libcrypto: the test PKI of `scws provision` (sim/host/pki.cpp)
  # `scws admin` (sim/admin): the stores (SQLite, PostgreSQL's libpq); the PostgreSQL server for its e2e test
  libpq-dev postgresql
  libmbedtls-dev  # Debian's stock mbedTLS: the reference peer of `scws bench tls` (scws-bench-stock-tls)
  # the real PC/SC stack
  pcscd vsmartcard-vpcd
  # independent clients used by the tests
  pcsc-tools opensc python3-pyscard python3-pytest tshark curl openssl iproute2 util-linux
  # the headless browser that loads the demo page through the gateway (tests/e2e/test_browser.py)
  chromium
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all packages present"
"$(dirname "$0")/fetch-mbedtls.sh"
