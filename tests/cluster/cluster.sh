#!/bin/bash
# Sandbox 3-node Pacemaker/Corosync cluster running pgsqlms, built from Linux namespaces on
# one machine (root needed). See tests/cluster/README.md.
#
#   cluster.sh up                 build the network, the nodes, PostgreSQL and the CIB
#   cluster.sh down               tear everything down (no namespace/process left behind)
#   cluster.sh status             crm_mon -1 from a live node
#   cluster.sh scenario <name>..  run scenarios on a running cluster (list: cluster.sh list)
#   cluster.sh all                up, every scenario, down (exit 1 if any scenario fails)
#   cluster.sh headless           up, only the headless-recovery scenarios, down
#   cluster.sh soak N [SEED]      up, N faults drawn from SEED (chaos soak), down
#   cluster.sh enter <node>       shell inside a node (or print the command when not a tty)
#   cluster.sh exec <node> cmd..  run a command inside a node
#
# Environment: AGENT=ocf:rust:pgsqlms|ocf:heartbeat:pgsqlms  AGENT_BIN=<binary for ocf:rust>
#   NODES_N=3 TOKEN_MS=2000 STATE=/var/tmp/pgsqlms-cluster SUBNET=10.99.0 PFX=pgsqlms
set -euo pipefail
HDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HDIR/../.." && pwd)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
# shellcheck source=lib/common.sh
. "$HDIR/lib/common.sh"
# shellcheck source=lib/sandbox.sh
. "$HDIR/lib/sandbox.sh"
# shellcheck source=lib/checks.sh
. "$HDIR/lib/checks.sh"
# shellcheck source=lib/show.sh
. "$HDIR/lib/show.sh"
# shellcheck source=lib/scenarios.sh
. "$HDIR/lib/scenarios.sh"
# shellcheck source=lib/soak.sh
. "$HDIR/lib/soak.sh"

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

need_root() { [[ $(id -u) == 0 ]] || die "must run as root (namespaces, mounts)"; }

cluster_exists() { ip netns list 2>/dev/null | grep -qw "^$SWNS"; }

cmd_down() {
  local n p q ns
  set +e
  log "tearing down the sandbox"
  # background workloads of scenarios (process group leaders started from $HDIR)
  for p in "$STATE"/bg/*.pid; do
    [[ -e $p ]] || continue
    if q=$(harness_pid "$p" "$HDIR/"); then kill -9 -- "-$q" "$q" 2>/dev/null; fi
    rm -f "$p"
  done
  # the fencing loop first, so it does not act on what follows
  if q=$(harness_pid "$STATE/fence-loop.pid" fence-loop); then kill -9 "$q" 2>/dev/null; fi
  rm -f "$STATE/fence-loop.pid"
  rm -rf "$STATE/fence"
  for n in $(all_nodes); do
    if p=$(init_pid "$n"); then kill -9 "$p" 2>/dev/null; fi
  done
  for n in $(all_nodes) client sw; do
    case $n in client) ns=$CLNS ;; sw) ns=$SWNS ;; *) ns=$(node_ns "$n") ;; esac
    ip netns list 2>/dev/null | grep -qw "^$ns" || continue
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      q=$(ip netns pids "$ns" 2>/dev/null)
      [[ -z $q ]] && break
      # shellcheck disable=SC2086
      kill -9 $q 2>/dev/null
      sleep 0.2
    done
  done
  for n in $(all_nodes); do
    ip netns del "$(node_ns "$n")" 2>/dev/null
  done
  ip netns del "$CLNS" 2>/dev/null
  ip netns del "$SWNS" 2>/dev/null
  rm -rf "$STATE"/nodes/*/pgmnt "$STATE/sock" "$STATE/ocf-rust" "$AGENT_MOUNT_KEEPER"
  rmdir "$PGMOUNT" 2>/dev/null
  set -e
  if ip netns list 2>/dev/null | grep -q "^$PFX-"; then
    log "WARNING: namespaces left behind: $(ip netns list | grep "^$PFX-" | paste -sd' ')"
    return 1
  fi
  log "sandbox down (logs kept in $STATE)"
}

cmd_up() {
  need_root
  local t0=$SECONDS n
  if cluster_exists; then die "a sandbox is already up ($SWNS exists): run '$0 down' first"; fi
  for n in corosync pacemakerd crm crm_mon "$PGBIN/initdb" envsubst nsenter unshare xmllint; do
    command -v "$n" >/dev/null || die "missing $n (run .ci/install-deps.sh)"
  done
  [[ -e $FENCE_TARGET ]] || die "$FENCE_TARGET missing (package fence-agents)"
  if [[ $AGENT == ocf:heartbeat:pgsqlms ]] && [[ ! -e /usr/lib/ocf/resource.d/heartbeat/pgsqlms ]]; then
    die "PAF is not installed (package resource-agents-paf)"
  fi
  # Tear down on any failure while building.
  trap 'rc=$?; if ((rc != 0)) && [[ -z ${KEEP:-} ]]; then log "up failed (rc=$rc), tearing down"; cmd_down; fi' EXIT
  rm -rf "$STATE/nodes" "$STATE/results"
  mkdir -p "$STATE/bg" "$PGMOUNT"
  : >"$STATE/fence.log"
  install_agent
  net_up
  prepare_node_dirs
  start_fence_loop
  pg_init_data
  for n in $(all_nodes); do node_boot "$n"; done
  wait_for 40 "all nodes online with quorum" nodes_online_all || die "cluster did not form"
  load_cib
  local t_cib t_write
  t_cib=$(now)
  wait_for 120 "first write through the VIP" cpsql "$VIP" \
    -c "CREATE TABLE IF NOT EXISTS writes (scn text, id int, at timestamptz DEFAULT now(), PRIMARY KEY (scn, id))" \
    || { show_status; die "cannot create the test table through the VIP"; }
  t_write=$(now)
  echo "$t_cib $t_write" >"$STATE/up.times"
  log "first write through the VIP $(awk -v a="$t_write" -v b="$t_cib" 'BEGIN{printf "%.1f", a-b}') s after loading the CIB"
  wait_for "$HEALTH_TIMEOUT" "1 promoted + $((NODES_N - 1)) unpromoted" cluster_healthy \
    || { show_status; die "cluster not healthy after bring-up: $(cat "$STATE/health")"; }
  trap - EXIT
  log "sandbox up in $((SECONDS - t0)) s, agent $AGENT, primary $(promoted_node)"
  show_status
}

show_status() {
  crm_exec crm_mon -1 -r 2>&1 || true
  show_table
}

cmd_enter() {
  local n=${1:-} p
  [[ -n $n ]] || die "usage: $0 enter <node>"
  p=$(init_pid "$n") || die "$n is down"
  if [[ -t 0 ]]; then
    echo "Entering $n (exit to leave). Try: crm_mon -1, crm_resource --list, su - postgres"
    exec nsenter -t "$p" -m -u -i -n -p -- env PS1="[$n \\W]# " bash --norc -i
  fi
  echo "To enter $n:  nsenter -t $p -m -u -i -n -p -- bash"
  echo "   or:        $0 enter $n"
  echo "Network only: ip netns exec $(node_ns "$n") <command>"
}

main() {
  local cmd=${1:-help}; shift || true
  case $cmd in
    up) cmd_up ;;
    down) need_root; cmd_down ;;
    status) show_status ;;
    enter) cmd_enter "$@" ;;
    exec) local n=$1; shift; node_exec "$n" "$@" ;;
    list) scenario_list ;;
    scenario)
      need_root
      cluster_exists || die "no sandbox: run '$0 up' first"
      run_scenarios "$@" ;;
    all|headless|rewind|sync)
      need_root
      local t0=$SECONDS rc=0
      if cluster_exists; then die "a sandbox is already up: run '$0 down' first"; fi
      trap 'cmd_down' EXIT
      ( cmd_up ) || { log "bring-up failed"; exit 1; }
      if [[ $cmd == all ]]; then
        run_scenarios "${SCENARIOS[@]}" "${REWIND_SCENARIOS[@]}" "${SYNC_SCENARIOS[@]}" "${HEADLESS_SCENARIOS[@]}" || rc=$?
      elif [[ $cmd == rewind ]]; then
        run_scenarios "${REWIND_SCENARIOS[@]}" || rc=$?
      elif [[ $cmd == sync ]]; then
        run_scenarios "${SYNC_SCENARIOS[@]}" || rc=$?
      else
        run_scenarios "${HEADLESS_SCENARIOS[@]}" || rc=$?
      fi
      log "$cmd: scenarios done in $((SECONDS - t0)) s (rc=$rc)"
      exit $rc ;;
    soak)
      need_root
      local t0=$SECONDS rc=0
      if cluster_exists; then die "a sandbox is already up: run '$0 down' first"; fi
      trap 'cmd_down' EXIT
      ( cmd_up ) || { log "bring-up failed"; exit 1; }
      soak_run "$@" || rc=$?
      log "soak done in $((SECONDS - t0)) s (rc=$rc)"
      exit $rc ;;
    fence-loop) fence_loop ;;
    help|-h|--help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
