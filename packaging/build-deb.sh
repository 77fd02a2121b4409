#!/usr/bin/env bash
# Builds the Debian package target/debian/pgsqlms_<version>-1_amd64.deb.
#
#   packaging/build-deb.sh            uses the existing static release binary, builds it if missing
#   packaging/build-deb.sh --rebuild  always runs the static release build first
#
# Steps: install cargo-deb from crates.io if missing (pinned version), build the static
# binary if needed, generate the man page from ocf-metadata/pgsqlms.xml with xsltproc,
# stage the docs under target/pkg/, run cargo deb --no-build. Prints the .deb path last.
set -euo pipefail
cd "$(dirname "$0")/.."

# The target of .cargo/config.toml, whose release build is static; cargo deb must be told.
TARGET=x86_64-unknown-linux-gnu
CARGO_DEB_VERSION=3.8.0
bin="target/$TARGET/release/pgsqlms"

if ! cargo deb --version >/dev/null 2>&1; then
  echo "build-deb: installing cargo-deb $CARGO_DEB_VERSION" >&2
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi
command -v xsltproc >/dev/null || { echo "build-deb: xsltproc is missing (apt-get install xsltproc)" >&2; exit 1; }

if [ "${1:-}" = "--rebuild" ] || [ ! -x "$bin" ]; then
  echo "build-deb: building the static release binary" >&2
  cargo build --release
fi

# Man page, generated from the meta-data (no second copy of the parameter texts).
rm -rf target/pkg
mkdir -p target/pkg/man target/pkg/doc
date="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" +%Y-%m-%d)"
xsltproc --novalid --nonet --stringparam date "$date" \
  packaging/man/pgsqlms.7.xsl ocf-metadata/pgsqlms.xml > target/pkg/man/pgsqlms.7
gzip -9n -c target/pkg/man/pgsqlms.7 > target/pkg/man/pgsqlms.7.gz

# Documentation shipped in /usr/share/doc/pgsqlms (whatever of these exists).
for f in README.md docs/agent-contract.md docs/show.md CHANGELOG.md; do
  [ -f "$f" ] && cp "$f" target/pkg/doc/
done
[ -d pcs-examples ] && ls pcs-examples/* >/dev/null 2>&1 && {
  for f in pcs-examples/*; do [ -f "$f" ] && cp "$f" "target/pkg/doc/pcs-example-$(basename "$f")"; done
}
true

# `pgsqlms show` and `pgsqlms history` on the administrator's PATH: a link to the agent
# (cargo deb packages a symlink asset as a symlink).
mkdir -p target/pkg/sbin
ln -sfn /usr/lib/ocf/resource.d/rust/pgsqlms target/pkg/sbin/pgsqlms

# cargo deb prints the path of the package it wrote
deb="$(cargo deb --no-build --no-strip --target "$TARGET" --output target/debian/ | tail -n 1)"
[ -f "$deb" ] || { echo "build-deb: cargo deb did not report a package ($deb)" >&2; exit 1; }
echo "$deb"
