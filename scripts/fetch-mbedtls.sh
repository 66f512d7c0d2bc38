#!/usr/bin/env bash
# Fetches the source of mbedTLS 2.28.3 from Debian's own source package and extracts it into
# subprojects/mbedtls-2.28.3/ (git-ignored), then lays the project's meson overlay
# (subprojects/packagefiles/mbedtls/) over it. tls/ builds it as a meson subproject.
#
# How the source is found: the machine's own apt source entries are copied into a private apt
# configuration under subprojects/packagecache/apt/ with their type changed to deb-src (deb822
# "Types: deb" stanzas of /etc/apt/sources.list.d/*.sources, one-line "deb ..." entries of
# /etc/apt/sources.list and sources.list.d/*.list). No mirror host is ever written into the project,
# and the system's apt configuration is left untouched: apt-get runs with Dir::Etc::SourceList,
# Dir::Etc::SourceParts, Dir::State::Lists and Dir::Cache pointed at the private folder, so neither
# root nor sudo is needed for the fetch itself (dpkg-source comes from dpkg-dev: install-deps.sh).
#
# Idempotent: when the extracted tree already holds version 2.28.3 only the overlay is refreshed.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=2.28.3
DEST=subprojects/mbedtls-$VERSION
OVERLAY=subprojects/packagefiles/mbedtls
WORK=subprojects/packagecache/apt

version_of() {  # prints the version string that the tree's version.h declares
  sed -n 's/^#define MBEDTLS_VERSION_STRING[[:space:]]*"\(.*\)"/\1/p' "$1/include/mbedtls/version.h" 2>/dev/null
}

lay_overlay() {
  cp "$OVERLAY"/meson.build "$OVERLAY"/meson_options.txt "$DEST"/
}

if [ -f "$DEST/include/mbedtls/version.h" ]; then
  have=$(version_of "$DEST")
  if [ "$have" = "$VERSION" ]; then
    lay_overlay
    echo "fetch-mbedtls: $DEST already holds mbedTLS $VERSION"
    exit 0
  fi
  echo "fetch-mbedtls: $DEST holds version '$have', not $VERSION: remove it and run again" >&2
  exit 1
fi

for tool in apt-get dpkg-source; do
  command -v "$tool" >/dev/null || { echo "fetch-mbedtls: $tool missing (run scripts/install-deps.sh)" >&2; exit 1; }
done

rm -rf "$WORK"
mkdir -p "$WORK/sources.list.d" "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/download"

# deb822 stanzas: keep each stanza whose Types include "deb", with Types set to deb-src.
n=0
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  awk '
    function flush() { if (keep && stanza != "") printf "%s\n", stanza; stanza = ""; keep = 0 }
    /^[[:space:]]*$/ { flush(); next }
    /^[[:space:]]*#/ { next }
    /^Types:/ { keep = ($0 ~ /(^|[[:space:]:])deb([[:space:]]|$)/); stanza = stanza "Types: deb-src\n"; next }
    /^Enabled:[[:space:]]*no/ { keep = 0 }
    { stanza = stanza $0 "\n" }
    END { flush() }
  ' "$f" > "$WORK/sources.list.d/derived-$n.sources"
done
# One-line entries: "deb [options] URI suite components" -> "deb-src ...".
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" > "$WORK/sources.list.d/derived-$n.list"
done
find "$WORK/sources.list.d" -type f -empty -delete
if [ -z "$(ls -A "$WORK/sources.list.d")" ]; then
  echo "fetch-mbedtls: no 'deb' entries found in /etc/apt/sources.list{,.d} to derive deb-src from" >&2
  exit 1
fi

abs=$PWD/$WORK
APT=(apt-get -q
  -o Dir::Etc::SourceList=/dev/null
  -o Dir::Etc::SourceParts="$abs/sources.list.d"
  -o Dir::State::Lists="$abs/lists"
  -o Dir::Cache="$abs/cache"
  -o Debug::NoLocking=1
  -o APT::Sandbox::User="$(id -un)")
"${APT[@]}" update >/dev/null
# apt-get source wants an exact version: pick the newest Debian revision of upstream $VERSION.
debver=$(apt-cache -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$abs/sources.list.d" \
           -o Dir::State::Lists="$abs/lists" -o Dir::Cache="$abs/cache" showsrc mbedtls \
         | sed -n "s/^Version: \($VERSION-.*\)/\1/p" | sort -V | tail -1)
if [ -z "$debver" ]; then
  echo "fetch-mbedtls: no mbedtls $VERSION source package in the derived deb-src entries" >&2
  exit 1
fi
(cd "$WORK/download" && "${APT[@]}" source --download-only "mbedtls=$debver") >/dev/null
dsc=$(ls "$WORK"/download/mbedtls_"$VERSION"*.dsc | head -1)
[ -n "$dsc" ] || { echo "fetch-mbedtls: apt-get source did not deliver mbedtls $VERSION" >&2; exit 1; }

tmp=$(mktemp -d subprojects/.mbedtls-extract.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# The archive's Release signature already vouched for the .dsc hashes apt checked; dpkg-source
# re-checks them (its gpgv warning about the maintainer's key is expected and kept in the log).
dpkg-source -x "$dsc" "$tmp/src" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
have=$(version_of "$tmp/src")
if [ "$have" != "$VERSION" ]; then
  echo "fetch-mbedtls: the source package holds version '$have', not $VERSION" >&2
  exit 1
fi
mv "$tmp/src" "$DEST"
lay_overlay
rm -rf "$WORK/download" "$WORK/cache"
echo "fetch-mbedtls: mbedTLS $VERSION extracted into $DEST (from $(basename "$dsc"))"
