#!/bin/bash
# PID 1 of one sandbox node (new pid, mount, uts and ipc namespaces, inside the node's netns).
# Usage: node-init.sh <node> <node-dir> <harness-dir> <state-dir> <pg-mount-point> <fence-target>
#                     [<dir bind-mounted over /usr/lib/ocf/resource.d/rust>]
# Killing this process with SIGKILL kills every process of the node: a power-off.
set -u
NODE=$1 NDIR=$2 HDIR=$3 STATE=$4 PGMOUNT=$5 FENCE_TARGET=$6 RUST_OCF_DIR=${7:-}

# Each step below keeps the node off the host's hostname and files. If one fails, corosync and
# pacemaker would run on the host's /etc/corosync and /var/lib/pacemaker: the node stops
# instead. Errors go to stderr (the host's init.out), as /var/log may still be the host's.
must() {
  "$@" && return 0
  echo "$(date -u +%T.%N) init: FATAL: '$*' failed: node $NODE stops, it must not run on the host's files" >&2
  exit 1
}
must hostname "$NODE"
must mount --make-rprivate /
must mount -t tmpfs -o mode=755 tmpfs /run
must mount -t tmpfs -o mode=1777 tmpfs /dev/shm
must mount --bind "$NDIR/etc-corosync" /etc/corosync
must mount --bind "$NDIR/var-lib-pacemaker" /var/lib/pacemaker
must mount --bind "$NDIR/var-lib-corosync" /var/lib/corosync
must mount --bind "$NDIR/var-log" /var/log
must mount --bind "$NDIR/pgmnt" "$PGMOUNT"
# Fencing: our agent replaces an installed RHCS agent, and talks to the host through a directory.
must mount --bind "$HDIR/fence_sandbox" "$FENCE_TARGET"
must mkdir -p /run/sandbox-fence
must mount --bind "$STATE/fence" /run/sandbox-fence
if [[ -n $RUST_OCF_DIR ]]; then must mount --bind "$RUST_OCF_DIR" /usr/lib/ocf/resource.d/rust; fi
: >"$NDIR/isolated"   # tells node_boot that every mount is in place
mkdir -p /run/crm /run/resource-agents /run/postgresql /run/lock
chown postgres:postgres /run/postgresql
chmod 2775 /run/postgresql
mkdir -p /var/log/pacemaker /var/log/corosync /var/log/crmsh /var/log/postgresql
chown hacluster:haclient /var/log/pacemaker
chown postgres:postgres /var/log/postgresql
ip link set lo up

export PCMK_logfile=/var/log/pacemaker/pacemaker.log PCMK_logfacility=none HA_LOGFACILITY=none
export PCMK_stderr=no LC_ALL=C.UTF-8
echo "$(date -u +%T.%N) init: starting corosync" >>/var/log/init.log
corosync -f >>/var/log/corosync/stdout.log 2>&1 &
ok=0
for _ in $(seq 1 100); do
  if corosync-cfgtool -s >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.2
done
echo "$(date -u +%T.%N) init: corosync ready=$ok, starting pacemakerd" >>/var/log/init.log
pacemakerd >>/var/log/pacemaker/stdout.log 2>&1 &
echo "$(date -u +%T.%N) init: running" >>/var/log/init.log
# Reap every child, including orphans re-parented to us (postmasters started by agents).
trap '' TERM INT HUP
while :; do
  sleep 5 &
  wait $! 2>/dev/null
done
