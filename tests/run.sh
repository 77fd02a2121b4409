#!/usr/bin/env bash
# The whole test suite, as CI runs it. Needs root (PostgreSQL runs as the postgres user; the
# cluster scenarios create namespaces) and the packages of .ci/install-deps.sh.
# Each stage runs even if an earlier one failed; the last line is "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/run.sh must run as root: PostgreSQL instances run as the postgres user and the cluster tests create namespaces" >&2
  exit 2
fi

# The ordinary release build (.cargo/config.toml sets the target and the static flag).
export PGSQLMS_BIN="$PWD/target/x86_64-unknown-linux-gnu/release/pgsqlms"
passed=0
failed=0
failures=()

stage() {
  local name=$1
  shift
  echo
  echo "=== stage: $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "=== stage $name: PASS ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== stage $name: FAIL ($((SECONDS - start)) s)"
  fi
}

# Plain `cargo build --release`, as README and demo.sh run it, must give the static binary.
release_build() {
  cargo build --release --locked &&
    file "$PGSQLMS_BIN" | grep -Eq 'statically linked|static-pie linked' &&
    "$PGSQLMS_BIN" --version
}

stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --locked --all-targets -- -D warnings
stage cargo-test cargo test --locked
stage release-build release_build
stage ocf-tester tests/ocf-tester.sh "$PGSQLMS_BIN"
stage packaging packaging/ci-check.sh
stage pcs-examples env AGENT_BIN="$PGSQLMS_BIN" pcs-examples/check-offline.sh
stage install-deps tests/install-deps-check.sh
stage node-init tests/cluster/node-init-check.sh
stage cluster env AGENT_BIN="$PGSQLMS_BIN" tests/cluster/cluster.sh all
# A short chaos soak (10 faults, fixed seed; the 100-fault run: tests/cluster/SOAK.md).
# The short chaos soak gates on safety (no acknowledged row lost, never two writable
# primaries); how many faults it survived is in its summary (tests/cluster/SOAK.md).
stage soak env AGENT_BIN="$PGSQLMS_BIN" SOAK_GATE=safety tests/cluster/cluster.sh soak 10 42

echo
[ "$failed" -eq 0 ] || echo "failed stages: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
