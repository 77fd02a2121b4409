#!/usr/bin/env bash
# Makes the RPM sources in DIR (default ~/rpmbuild/SOURCES):
#   pgsqlms-VERSION.tar.gz         git archive of HEAD (committed files only)
#   pgsqlms-VERSION-vendor.tar.gz  the crates of Cargo.lock (cargo vendor), for offline builds
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$HOME/rpmbuild/SOURCES}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
git archive --format=tar.gz --prefix="pgsqlms-$version/" -o "$out/pgsqlms-$version.tar.gz" HEAD
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$out/pgsqlms-$version.tar.gz" -C "$tmp"
(cd "$tmp/pgsqlms-$version" && cargo vendor --locked --versioned-dirs vendor >/dev/null)
tar -czf "$out/pgsqlms-$version-vendor.tar.gz" -C "$tmp/pgsqlms-$version" vendor
# Keep the spec's Version in step with Cargo.toml.
grep -q "^Version: *$version\$" packaging/rpm/pgsqlms.spec ||
  echo "warning: packaging/rpm/pgsqlms.spec Version differs from Cargo.toml ($version)" >&2
ls -l "$out/pgsqlms-$version.tar.gz" "$out/pgsqlms-$version-vendor.tar.gz"
