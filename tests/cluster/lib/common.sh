# shellcheck shell=bash
# Common settings and helpers of the sandbox cluster harness. Sourced by cluster.sh.

# ---- settings (override from the environment) --------------------------------------------
NODES_N=${NODES_N:-3}
# Resource agent: ocf:rust:pgsqlms (this project) or ocf:heartbeat:pgsqlms (PAF).
AGENT=${AGENT:-ocf:rust:pgsqlms}
AGENT_BIN=${AGENT_BIN:-$REPO/target/x86_64-unknown-linux-gnu/release/pgsqlms}
AGENT_DIR_RUST=/usr/lib/ocf/resource.d/rust
PFX=${PFX:-pgsqlms}                       # namespace name prefix
SUBNET=${SUBNET:-10.99.0}                 # private /24 that exists only inside our namespaces
VIP=${VIP:-$SUBNET.100}
CLIENT_IP=${CLIENT_IP:-$SUBNET.50}
STATE=${STATE:-/var/tmp/pgsqlms-cluster}  # host-side state: per-node dirs, logs, results
# The mount point of the nodes' data, the same in every node of a sandbox; a host directory of
# its own per sandbox (PFX): a teardown removes it, which detaches the mounts on it in every
# namespace, so two sandboxes side by side must not share it.
PGMOUNT=${PGMOUNT:-/srv/$PFX-sandbox}
# This sandbox's file in the agent's mount point on the host (see install_agent).
AGENT_MOUNT_KEEPER=$AGENT_DIR_RUST/.sandbox-$PFX
PGDATA=$PGMOUNT/data
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
TOKEN_MS=${TOKEN_MS:-2000}
FENCE_TARGET=${FENCE_TARGET:-/usr/sbin/fence_dummy}   # agent path we bind-mount over
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-150}
# Managed synchronous replication of our agent (off | on | strict); PAF always runs without
# (node.conf's static ANY 1, which our agent also keeps with off).
SYNC_MODE=${SYNC_MODE:-on}
# The sync_mode the agent under test runs with: PAF has none (off).
agent_sync_mode() { if [[ $AGENT == ocf:rust:pgsqlms ]]; then echo "$SYNC_MODE"; else echo off; fi; }
SYNC_COUNT=${SYNC_COUNT:-1}
FENCE_LOOP_MAX=${FENCE_LOOP_MAX:-10800}

SWNS=$PFX-sw
CLNS=$PFX-client

node_name() { echo "node$1"; }
node_ip() { echo "$SUBNET.$((10 + ${1#node}))"; }
node_ns() { echo "$PFX-$1"; }
all_nodes() { local i; for ((i = 1; i <= NODES_N; i++)); do echo "node$i"; done; }
ndir() { echo "$STATE/nodes/$1"; }
host_pgdata() { echo "$STATE/nodes/$1/pgmnt/data"; }

ts() { date -u +%H:%M:%S.%N | cut -c1-12; }
log() { echo "[$(ts)] $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
now() { echo "$EPOCHREALTIME"; }

# wait_for <timeout-seconds> <description> <command...>: polls every 0.5 s.
wait_for() {
  local t=$1 what=$2; shift 2
  local end=$((SECONDS + t))
  while ((SECONDS < end)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "timeout after ${t}s waiting for: $what"
  return 1
}

# harness_pid <pid-file> <text>: the PID in the file if that process is alive and its command
# line contains <text>. The state directory outlives reboots: a stale PID, reused by another
# process, must never get that process killed.
harness_pid() {
  local f=$1 text=$2 p
  [[ -s $f ]] || return 1
  p=$(<"$f")
  [[ $p =~ ^[0-9]+$ && -d /proc/$p ]] || return 1
  grep -qF -- "$text" "/proc/$p/cmdline" 2>/dev/null || return 1
  echo "$p"
}

# PID (in the host pid namespace) of a node's init, empty if the node is down.
init_pid() { harness_pid "$(ndir "$1")/init.pid" node-init.sh; }
node_up() { init_pid "$1" >/dev/null; }

# Run a command inside every namespace of a node (mount, uts, ipc, net, pid).
node_exec() {
  local n=$1 p; shift
  p=$(init_pid "$n") || { log "node $n is down"; return 125; }
  nsenter -t "$p" -m -u -i -n -p -- "$@"
}
node_exec_t() {
  local t=$1 n=$2 p; shift 2
  p=$(init_pid "$n") || { log "node $n is down"; return 125; }
  timeout -k 2 "$t" nsenter -t "$p" -m -u -i -n -p -- "$@"
}

# psql as postgres from the client namespace to host:port; bounded.
cpsql() {
  local host=$1; shift
  PGCONNECT_TIMEOUT=2 timeout -k 1 5 ip netns exec "$CLNS" \
    runuser -u postgres -- "$PGBIN/psql" -h "$host" -U postgres -d postgres -XAtq "$@"
}
# psql inside a node's network namespace, to the node's own address (works when isolated).
npsql() {
  local n=$1; shift
  PGCONNECT_TIMEOUT=2 timeout -k 1 5 ip netns exec "$(node_ns "$n")" \
    runuser -u postgres -- "$PGBIN/psql" -h "$(node_ip "$n")" -U postgres -d postgres -XAtq "$@"
}

# First node whose init is alive (to run cluster commands from).
any_up_node() {
  local n
  for n in $(all_nodes); do
    if node_up "$n"; then echo "$n"; return 0; fi
  done
  return 1
}
# How many nodes are powered on.
nodes_up_count() {
  local n c=0
  for n in $(all_nodes); do node_up "$n" && c=$((c + 1)); done
  echo "$c"
}
# Cluster command from a quorate live node (falls back to any live node).
crm_exec() {
  local n best=""
  for n in $(all_nodes); do
    node_up "$n" || continue
    [[ -z $best ]] && best=$n
    if [[ $(node_exec_t 5 "$n" corosync-quorumtool -s 2>/dev/null | awk '/^Quorate:/{print $2}') == Yes ]]; then
      best=$n; break
    fi
  done
  [[ -n $best ]] || { log "no node up"; return 125; }
  node_exec_t 30 "$best" "$@"
}
