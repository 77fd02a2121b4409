#!/bin/bash
# Checks that a sandbox node stops when one of its isolation steps fails, instead of running
# corosync and pacemaker on the host's /etc/corosync, /var/lib/pacemaker, ...: node-init.sh
# runs once per missing bind-mount source, in throw-away namespaces of its own (mount, uts,
# ipc, pid and an empty network namespace), so it can run beside a sandbox cluster. As root.
# Prints one PASS/FAIL line per case; exits non-zero if any case failed.
set -uo pipefail
HDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $(id -u) == 0 ]] || { echo "node-init-check.sh: must run as root (namespaces, mounts)" >&2; exit 2; }

T=$(mktemp -d /tmp/pgsqlms-node-init-check.XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# prepare_node <case>: a complete node directory ND (the test then removes one piece).
# run_node <seconds>: node-init.sh on ND in new namespaces, SIGKILLed (with every process of
# its pid namespace) after <seconds>; sets RC.
prepare_node() {
  ND=$T/$1
  mkdir -p "$ND"/{etc-corosync,var-lib-pacemaker,var-lib-corosync,var-log,pgmnt,ocf-rust} \
    "$ND/state/fence" "$ND/pg-mount-point"
  : >"$ND/fence-target"
}
run_node() {
  # (the outer redirection keeps bash's "Killed" notice quiet)
  { timeout -s KILL "$1" unshare -m -u -i -p -n -f --mount-proc \
    "$HDIR/node-init.sh" node-check "$ND" "$HDIR" "$ND/state" "$ND/pg-mount-point" \
    "$ND/fence-target" "$ND/ocf-rust" >"$ND/init.out" 2>&1; } 2>/dev/null
  RC=$?
}
started_corosync() { grep -qs "starting corosync" "$ND/var-log/init.log"; }

# The mount point of the agent's directory, as the harness's install_agent makes it.
mkdir -p /usr/lib/ocf/resource.d/rust

# Control: with every source in place the node gets through its mounts.
prepare_node control
run_node 3
if [[ -e $ND/isolated ]]; then
  pass "a complete node directory: node-init.sh gets through every mount"
else
  fail "a complete node directory: node-init.sh did not get through its mounts: $(tail -n 3 "$ND/init.out")"
fi

# One missing source per case: node-init.sh must exit 1 (not be killed by the timeout), name
# the failed mount, and never start corosync.
check_stops() {
  local what=$1 missing=$2
  prepare_node "${missing//\//-}"
  rm -rf "${ND:?}/$missing"
  run_node 15
  if [[ $RC == 1 ]] && grep -q "FATAL: 'mount --bind $ND/$missing " "$ND/init.out" &&
    [[ ! -e $ND/isolated ]] && ! started_corosync; then
    pass "node stops when the bind mount over $what fails"
  else
    fail "node did not stop when the bind mount over $what failed (exit $RC): $(tail -n 3 "$ND/init.out")"
  fi
}
check_stops /etc/corosync etc-corosync
check_stops /var/lib/pacemaker var-lib-pacemaker
check_stops /var/lib/corosync var-lib-corosync
check_stops /var/log var-log
check_stops "the PostgreSQL mount point" pgmnt
check_stops /run/sandbox-fence state/fence
check_stops /usr/lib/ocf/resource.d/rust ocf-rust

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
