#!/bin/bash
# Checks create-cluster.sh without any cluster: runs its resource and constraint commands with
# "pcs -f" against an empty offline CIB, then validates the result with crm_verify.
# Fails (exit 1) on any pcs error.
#
#   AGENT=ocf:rust:pgsqlms AGENT_BIN=target/x86_64-unknown-linux-gnu/release/pgsqlms ./check-offline.sh
#   AGENT=ocf:heartbeat:pgsqlms ./check-offline.sh            (PAF)
#
# pcs reads the agent's meta-data. For ocf:rust:pgsqlms the binary (AGENT_BIN, default
# <repo>/target/x86_64-unknown-linux-gnu/release/pgsqlms) is bind-mounted over
# /usr/lib/ocf/resource.d/rust in a private mount namespace (root needed), so nothing is
# installed on the host; without root and without an installed agent the check is skipped
# with a message.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AGENT=${AGENT:-ocf:rust:pgsqlms}
AGENT_BIN=${AGENT_BIN:-$here/../target/x86_64-unknown-linux-gnu/release/pgsqlms}

if [[ $AGENT == ocf:rust:* && -z ${CHECK_OFFLINE_INNER:-} ]]; then
  if [[ $(id -u) == 0 && -x $AGENT_BIN ]]; then
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    cp "$AGENT_BIN" "$dir/pgsqlms"
    chmod 755 "$dir" "$dir/pgsqlms"
    mkdir -p /usr/lib/ocf/resource.d/rust
    CHECK_OFFLINE_INNER=1 unshare -m --propagation private \
      bash -c 'mount --bind "$1" /usr/lib/ocf/resource.d/rust && exec "$2"' _ "$dir" "$0"
    exit $?
  elif [[ ! -x /usr/lib/ocf/resource.d/rust/pgsqlms ]]; then
    echo "check-offline: SKIPPED: $AGENT not installed and $AGENT_BIN not usable as root" >&2
    exit 0
  fi
fi

cib=$(mktemp)
trap 'rm -f "$cib" "$cib.out"' EXIT
cibadmin --empty >"$cib"
if ! OFFLINE_CIB=$cib AGENT=$AGENT "$here/create-cluster.sh" resources >"$cib.out" 2>&1; then
  cat "$cib.out" >&2
  echo "check-offline: FAILED: pcs rejected create-cluster.sh" >&2
  exit 1
fi
cat "$cib.out"
for id in pgsqld pgsqld-clone pgsql-vip fence-node1; do
  grep -q "id=\"$id\"" "$cib" || { echo "check-offline: FAILED: $id missing from the CIB" >&2; exit 1; }
done
grep -q 'name="promotable" value="true"' "$cib" || { echo "check-offline: FAILED: clone not promotable" >&2; exit 1; }
if ! crm_verify --xml-file "$cib" 2>"$cib.out"; then
  # An offline CIB has no nodes: only accept warnings about that.
  if grep -v -i -e 'warning' -e '^$' "$cib.out" | grep -q .; then
    cat "$cib.out" >&2
    echo "check-offline: FAILED: crm_verify" >&2
    exit 1
  fi
fi
echo "check-offline: OK ($AGENT): $(grep -c '<primitive' "$cib") primitives, $(grep -c '<rsc_' "$cib") constraints"
