#!/bin/bash
# Create a 3-node PostgreSQL high-availability cluster managed by pgsqlms, with pcs
# (Debian 12 / RHEL 9: pcs 0.11, Pacemaker 2.1, Corosync 3). Run it as root on node1 once
# PostgreSQL is installed on every node, replication is set up (see README.md) and pcsd runs
# on every node (systemctl enable --now pcsd; passwd hacluster).
#
#   ./create-cluster.sh hba         print the pg_hba.conf rules for each node
#   ./create-cluster.sh setup       pcs host auth + pcs cluster setup + start
#   ./create-cluster.sh resources   fencing, pgsqld promotable clone, VIP, constraints
#   ./create-cluster.sh all         setup then resources
#
# With OFFLINE_CIB=<file>, every resource command runs as "pcs -f <file>" against an offline
# CIB instead of the live cluster (check-offline.sh uses this).
set -euo pipefail

# ---- adapt to your site --------------------------------------------------------------------
CLUSTER_NAME=${CLUSTER_NAME:-pgsqlms}
# shellcheck disable=SC2206 # space-separated lists on purpose
NODES=(${NODES:-node1 node2 node3})
# shellcheck disable=SC2206
NODE_ADDRS=(${NODE_ADDRS:-10.99.0.11 10.99.0.12 10.99.0.13})
VIP=${VIP:-10.99.0.100}
VIP_NETMASK=${VIP_NETMASK:-24}
SUBNET=${SUBNET:-10.99.0.0/24}
AGENT=${AGENT:-ocf:rust:pgsqlms}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGDATA=${PGDATA:-/srv/pgsqlms-sandbox/data}
PGHOST=${PGHOST:-/run/postgresql}
# Managed synchronous replication (ocf:rust:pgsqlms only; PAF has no such parameters):
# off (the administrator sets synchronous_standby_names), on or strict; see the meta-data.
SYNC_MODE=${SYNC_MODE:-off}
SYNC_COUNT=${SYNC_COUNT:-1}
# Out-of-band management (IPMI) address of each node, for fence_ipmilan.
# shellcheck disable=SC2206
IPMI_ADDRS=(${IPMI_ADDRS:-192.0.2.11 192.0.2.12 192.0.2.13})
IPMI_USER=${IPMI_USER:-admin}
IPMI_PASSWORD=${IPMI_PASSWORD:-secret}
OFFLINE_CIB=${OFFLINE_CIB:-}

pcs_() {
  if [[ -n $OFFLINE_CIB ]]; then pcs -f "$OFFLINE_CIB" "$@"; else pcs "$@"; fi
}

# pg_hba.conf rules: trust (or better, scram-sha-256) replication from the other nodes, and
# reject a node replicating from itself, through its own address or through the VIP.
hba() {
  local i
  for i in "${!NODES[@]}"; do
    echo "# ---- pg_hba.conf of ${NODES[$i]} (these lines first) ----"
    echo "host    replication  all       ${NODE_ADDRS[$i]}/32   reject"
    echo "host    replication  all       $VIP/32   reject"
    echo "host    replication  all       127.0.0.1/32     reject"
    echo "host    replication  postgres  $SUBNET    scram-sha-256"
  done
}

setup() {
  local i args=()
  pcs host auth "${NODES[@]}" -u hacluster
  for i in "${!NODES[@]}"; do args+=("${NODES[$i]}" "addr=${NODE_ADDRS[$i]}"); done
  pcs cluster setup "$CLUSTER_NAME" "${args[@]}" totem token=3000
  pcs cluster start --all --wait=120
}

resources() {
  local i
  pcs_ property set stonith-enabled=true
  pcs_ property set no-quorum-policy=stop
  pcs_ resource defaults update resource-stickiness=10 migration-threshold=3

  # One fence device per node (IPMI here); a node never runs the device that fences itself.
  for i in "${!NODES[@]}"; do
    pcs_ stonith create "fence-${NODES[$i]}" fence_ipmilan \
      ip="${IPMI_ADDRS[$i]}" username="$IPMI_USER" password="$IPMI_PASSWORD" lanplus=1 \
      pcmk_host_list="${NODES[$i]}" op monitor interval=60s
    pcs_ constraint location "fence-${NODES[$i]}" avoids "${NODES[$i]}=INFINITY"
  done

  # PostgreSQL: a promotable clone, one instance per node, one primary.
  # The two monitor intervals must differ (promoted 5 s, unpromoted 6 s).
  # To let a former primary rejoin by itself (pg_rewind, see the README), add
  #   rejoin=rewind rewind_user=rewind
  # after the grants and with wal_log_hints = on on every node.
  local sync_params=()
  if [[ $AGENT != ocf:heartbeat:pgsqlms ]]; then
    sync_params=(sync_mode="$SYNC_MODE" sync_count="$SYNC_COUNT")
  fi
  pcs_ resource create pgsqld "$AGENT" \
    bindir="$PGBIN" pgdata="$PGDATA" pghost="$PGHOST" "${sync_params[@]}" \
    op start timeout=60s \
    op stop timeout=60s \
    op promote timeout=30s \
    op demote timeout=120s \
    op monitor interval=5s timeout=10s role=Promoted \
    op monitor interval=6s timeout=10s role=Unpromoted \
    op notify timeout=60s \
    promotable notify=true promoted-max=1 promoted-node-max=1 clone-node-max=1

  # The virtual IP the clients and the standbys (primary_conninfo host=VIP) connect to.
  pcs_ resource create pgsql-vip ocf:heartbeat:IPaddr2 \
    ip="$VIP" cidr_netmask="$VIP_NETMASK" op monitor interval=10s

  # VIP where the primary is; raised after promote, removed before demote.
  pcs_ constraint colocation add pgsql-vip with Promoted pgsqld-clone INFINITY
  pcs_ constraint order promote pgsqld-clone "then" start pgsql-vip symmetrical=false kind=Mandatory
  pcs_ constraint order demote pgsqld-clone "then" stop pgsql-vip symmetrical=false kind=Mandatory
}

case ${1:-help} in
  hba) hba ;;
  setup) setup ;;
  resources) resources ;;
  all) setup; resources ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
