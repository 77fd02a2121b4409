#!/usr/bin/env bash
# Runs Debian's ocf-tester (package resource-agents) against the pgsqlms binary and a real,
# throw-away PostgreSQL 15 instance created here, and exits non-zero when ocf-tester fails.
#
# Usage (as root):  tests/ocf-tester.sh [path/to/pgsqlms]
#                   (default: target/x86_64-unknown-linux-gnu/release/pgsqlms, the release build)
# Environment:      PGBINDIR (default /usr/lib/postgresql/15/bin), OCF_TESTER_VERBOSE=1 for -v.
#
# ocf-tester runs no cluster, so:
#  * the clone's meta attributes the agent checks are passed with -o (ocf-tester turns
#    "-o name=value" into OCF_RESKEY_name=value): CRM_meta_notify=true, CRM_meta_promoted_max=1,
#    CRM_meta_clone_node_max=1, CRM_meta_on_node, crm_feature_set;
#  * crm_attribute, attrd_updater and crm_node are the recording stand-ins of the integration
#    tests (tests/standins/), put first on PATH, with their store in the work directory;
#  * ocf-tester never sends a pre-promote notification (its "notify" has no type/operation),
#    so its promote runs without any election data: the agent must treat this node as the only
#    candidate. The stand-in call log is printed at the end to show what the agent did.
# The instance is a single node whose primary_conninfo points nowhere (it has no upstream),
# with application_name set to the node name, as validate-all requires.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
agent_src=$(realpath "${1:-$here/../target/x86_64-unknown-linux-gnu/release/pgsqlms}")
bindir=${PGBINDIR:-/usr/lib/postgresql/15/bin}
node=ocf-node
port=$((25000 + $$ % 1000))

[ "$(id -u)" = 0 ] || { echo "ocf-tester.sh: must run as root" >&2; exit 2; }
[ -x "$agent_src" ] || { echo "ocf-tester.sh: no agent binary at $agent_src (cargo build --release)" >&2; exit 2; }
command -v ocf-tester >/dev/null || { echo "ocf-tester.sh: ocf-tester not found (package resource-agents)" >&2; exit 2; }

work=$(mktemp -d /tmp/pgsqlms-ocf-tester.XXXXXX)
chmod 755 "$work"
pgdata=$work/data
cleanup() {
    if [ -f "$pgdata/postmaster.pid" ]; then
        runuser -u postgres -- "$bindir/pg_ctl" -D "$pgdata" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# ocf-tester checks that user nobody can run "meta-data": use a copy in a traversable directory.
mkdir -p "$work/agent" "$work/bin" "$work/attrs" "$work/sock" "$work/rsctmp"
install -m 0755 "$agent_src" "$work/agent/pgsqlms"
for t in crm_attribute attrd_updater crm_node; do install -m 0755 "$here/standins/$t" "$work/bin/$t"; done
chmod 777 "$work/attrs"
echo "$node" >"$work/attrs/partition"
chown postgres: "$work/sock"
mkdir -m 0700 "$pgdata"
chown postgres: "$pgdata"

cd "$work"
runuser -u postgres -- "$bindir/initdb" -D "$pgdata" -A trust -U postgres --no-sync --no-instructions >/dev/null
cat >>"$pgdata/postgresql.conf" <<CONF
listen_addresses = ''
port = $port
unix_socket_directories = '$work/sock'
wal_level = replica
hot_standby = on
recovery_target_timeline = 'latest'
primary_conninfo = 'host=$work/nowhere port=1 application_name=$node'
shared_buffers = 16MB
fsync = off
CONF

export PATH="$work/bin:$PATH"
export PGSQLMS_TEST_ATTRS="$work/attrs"
export HA_RSCTMP="$work/rsctmp"
export HA_LOGFACILITY=none
verbose=()
[ "${OCF_TESTER_VERBOSE:-0}" = 1 ] && verbose=(-v)

rc=0
ocf-tester "${verbose[@]}" -n pgsqld \
    -o system_user=postgres \
    -o bindir="$bindir" \
    -o pgdata="$pgdata" \
    -o pghost="$work/sock" \
    -o pgport="$port" \
    -o CRM_meta_notify=true \
    -o CRM_meta_promoted_max=1 \
    -o CRM_meta_clone_node_max=1 \
    -o CRM_meta_on_node="$node" \
    -o crm_feature_set=3.16.2 \
    "$work/agent/pgsqlms" || rc=$?

echo "--- Pacemaker tool calls made by the agent (stand-ins) ---"
cat "$work/attrs/calls.log" 2>/dev/null || true
echo "--- ocf-tester exit code: $rc ---"
exit $rc
