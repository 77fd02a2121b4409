#!/bin/bash
# Demo: a sandbox 3-node Pacemaker/Corosync cluster on this machine running pgsqlms (this
# project's Rust agent) over PostgreSQL 15 streaming replication. Linux namespaces only: no VM,
# no container engine; nothing is sent outside the private subnet 10.99.0.0/24 that exists only
# inside the sandbox.
#
#   sudo ./demo.sh up                  build (cargo build --release: the static binary
#                                      target/x86_64-unknown-linux-gnu/release/pgsqlms), install
#                                      the agent in the sandbox, start the cluster, show crm_mon -1
#   sudo ./demo.sh status              crm_mon -1 next to pgsqlms show
#   sudo ./demo.sh scenario <name>...  run fault scenarios (./demo.sh scenarios lists them)
#   sudo ./demo.sh enter <node>        shell inside node1|node2|node3
#   sudo ./demo.sh down                tear everything down
#
# AGENT=ocf:heartbeat:pgsqlms ./demo.sh up runs the same cluster with PAF instead.
# Missing Debian packages are installed with .ci/install-deps.sh (DEMO_NO_INSTALL=1 to skip); it
# starts, stops and kills nothing on this machine: the sandbox runs its own daemons.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cluster=$here/tests/cluster/cluster.sh

if [[ $(id -u) != 0 ]]; then
  echo "demo.sh must run as root: it creates network namespaces, mounts and a Pacemaker" >&2
  echo "cluster in them. Try: sudo $0 ${*:-up}" >&2
  exit 1
fi

ensure_packages() {
  local missing=() c
  for c in corosync pacemakerd crm pcs /usr/lib/postgresql/15/bin/initdb envsubst xmllint nsenter /usr/sbin/fence_dummy; do
    command -v "$c" >/dev/null 2>&1 || [[ -x $c ]] || missing+=("$c")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ -n ${DEMO_NO_INSTALL:-} ]]; then
    echo "missing: ${missing[*]} (run $here/.ci/install-deps.sh)" >&2; exit 1
  fi
  echo "Installing missing packages (${missing[*]}) with .ci/install-deps.sh ..."
  bash "$here/.ci/install-deps.sh"
}

cmd=${1:-help}
shift || true
case $cmd in
  up)
    ensure_packages
    export AGENT=${AGENT:-ocf:rust:pgsqlms}
    if [[ $AGENT == ocf:rust:* ]]; then
      command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }
      echo "Building the agent: cargo build --release"
      (cd "$here" && cargo build --release)
      export AGENT_BIN=${AGENT_BIN:-$here/target/x86_64-unknown-linux-gnu/release/pgsqlms}
    fi
    "$cluster" up
    cat <<EOF

The sandbox cluster is up (agent $AGENT). Next:
  sudo $0 status                          crm_mon -1 and pgsqlms show
  sudo $0 scenarios                       list the fault scenarios
  sudo $0 scenario switchover             planned switchover (crm_resource --move --promoted)
  sudo $0 scenario kill-primary-node      power the primary off, watch the failover
  sudo $0 enter node1                     shell inside node1 (crm_mon, crm_resource, psql ...)
      (same as: nsenter -t \$(cat /var/tmp/pgsqlms-cluster/nodes/node1/init.pid) -m -u -i -n -p bash)
  ip netns exec pgsqlms-client psql -h 10.99.0.100 -U postgres    SQL through the VIP
  sudo $0 down                            tear everything down
Logs: /var/tmp/pgsqlms-cluster/nodes/<node>/var-log/ (pacemaker, corosync, postgresql)
EOF
    ;;
  down) "$cluster" down ;;
  status) "$cluster" status ;;
  scenarios|list) "$cluster" list ;;
  scenario) "$cluster" scenario "$@" ;;
  enter) "$cluster" enter "$@" ;;
  all) ensure_packages; "$cluster" all ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; [[ $cmd == help || $cmd == -h ]] || exit 2 ;;
esac
