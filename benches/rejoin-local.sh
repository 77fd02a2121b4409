#!/bin/bash
# Rejoin of a diverged former primary on one host, without Pacemaker: the agent's start with
# rejoin=rewind (check, saved WAL and report, pg_rewind, start as a standby) against what an
# administrator does today (pg_basebackup from the new primary, then the agent's start). Time
# from the start of either to the former primary streaming from the new primary.
# As root, from the repository root, after `cargo build --release`:
#
#   benches/rejoin-local.sh
#
# Two PostgreSQL 15 instances (node-a, node-b) in a temporary directory, pgbench data of
# REJOIN_SCALE (default 50, about 750 MB); REJOIN_REPS (3) rounds per method. A round promotes
# the standby, runs pgbench for 3 s on the old primary (it diverges), kills it (-m immediate),
# then rejoins it by one method; the two nodes swap roles every round. The agent finds
# Pacemaker's tools in tests/standins (crm_resource --locate answers from a file).
# Appends the figures to benches/REJOIN.md and benches/RESULTS.md (benches/report.py keeps
# REJOIN.md when it rewrites RESULTS.md).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
BIN=${PGBIN:-/usr/lib/postgresql/15/bin}
AGENT=${AGENT_BIN:-$REPO/target/x86_64-unknown-linux-gnu/release/pgsqlms}
SCALE=${REJOIN_SCALE:-50}
REPS=${REJOIN_REPS:-3}
ROOT=$(mktemp -d /tmp/pgsqlms-rejoin-bench-XXXXXX)
chmod 755 "$ROOT"
declare -A PORT=([node-a]=54901 [node-b]=54902)
as_pg() { runuser -u postgres -- "$@"; }
data() { echo "$ROOT/$1/data"; }
sock() { echo "$ROOT/$1/sock"; }
psql_on() { local n=$1; shift; as_pg "$BIN/psql" -h "$(sock "$n")" -p "${PORT[$n]}" -U postgres -d postgres -XAtq "$@"; }
cleanup() {
  local n
  for n in node-a node-b; do as_pg "$BIN/pg_ctl" -D "$(data "$n")" -m immediate stop >/dev/null 2>&1 || true; done
  rm -rf "$ROOT"
}
trap cleanup EXIT
node_conf() { # node_conf <node> <upstream>
  local n=$1 u=$2
  cat >"$(data "$n")/node.conf" <<EOF
port = ${PORT[$n]}
unix_socket_directories = '$(sock "$n")'
primary_conninfo = 'host=$(sock "$u") port=${PORT[$u]} user=postgres application_name=$n'
EOF
  chown postgres: "$(data "$n")/node.conf"
}
other() { [[ $1 == node-a ]] && echo node-b || echo node-a; }
mkdir -p "$ROOT/attrs/locate"
for n in node-a node-b; do mkdir -p "$(sock "$n")" "$ROOT/$n/rsctmp"; chown postgres: "$ROOT/$n" "$(sock "$n")"; done
chmod 777 "$ROOT/attrs"
: >"$ROOT/attrs/calls.log"; chmod 666 "$ROOT/attrs/calls.log"
echo "node-a node-b" >"$ROOT/attrs/partition"
agent_start() { # agent_start <node> [param=value...]
  local n=$1; shift
  local env=(PATH="$REPO/tests/standins:/usr/sbin:/usr/bin:/sbin:/bin" OCF_ROOT=/usr/lib/ocf
    OCF_RESOURCE_INSTANCE=pgsqld OCF_RESKEY_system_user=postgres OCF_RESKEY_bindir="$BIN"
    OCF_RESKEY_pgdata="$(data "$n")" OCF_RESKEY_pghost="$(sock "$n")" OCF_RESKEY_pgport="${PORT[$n]}"
    OCF_RESKEY_CRM_meta_on_node="$n" OCF_RESKEY_CRM_meta_timeout=300000 HA_LOGFACILITY=none
    HA_RSCTMP="$ROOT/$n/rsctmp" PGSQLMS_TEST_ATTRS="$ROOT/attrs" PGSQLMS_TEST_LOCAL_NODE="$n")
  local p
  for p in "$@"; do env+=("OCF_RESKEY_$p"); done
  env -i "${env[@]}" "$AGENT" start >>"$ROOT/agent.log" 2>&1
}
streaming() { # streaming <primary> <standby>
  [[ $(psql_on "$1" -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$2' AND state = 'streaming'") == 1 ]]
}
wait_streaming() {
  local i
  for i in $(seq 1 1200); do streaming "$1" "$2" && return 0; sleep 0.05; done
  echo "$2 never streamed from $1" >&2; return 1
}

as_pg "$BIN/initdb" -D "$(data node-a)" -A trust -U postgres --no-instructions >/dev/null
cat >>"$(data node-a)/postgresql.conf" <<'EOF'
listen_addresses = ''
wal_level = replica
hot_standby = on
wal_log_hints = on
max_wal_senders = 10
wal_keep_size = 1GB
recovery_target_timeline = 'latest'
wal_receiver_status_interval = 1s
include 'node.conf'
EOF
node_conf node-a node-b
as_pg "$BIN/pg_ctl" -D "$(data node-a)" -l "$ROOT/node-a/postgresql.log" -w start >/dev/null
as_pg "$BIN/pgbench" -h "$(sock node-a)" -p "${PORT[node-a]}" -U postgres -i -q -s "$SCALE" postgres >/dev/null 2>&1
size=$(psql_on node-a -c "SELECT pg_size_pretty(pg_database_size('postgres'))")
as_pg "$BIN/pg_basebackup" -h "$(sock node-a)" -p "${PORT[node-a]}" -U postgres -D "$(data node-b)" -X stream -c fast
node_conf node-b node-a
as_pg touch "$(data node-b)/standby.signal"
as_pg "$BIN/pg_ctl" -D "$(data node-b)" -l "$ROOT/node-b/postgresql.log" -w start >/dev/null
wait_streaming node-a node-b

P=node-a S=node-b
declare -A TIMES=([rewind]="" [basebackup]="")
for r in $(seq 1 $((2 * REPS))); do
  method=$([[ $((r % 2)) == 1 ]] && echo rewind || echo basebackup)
  as_pg "$BIN/pg_ctl" -D "$(data "$S")" -w promote >/dev/null
  psql_on "$S" -c CHECKPOINT >/dev/null
  echo "resource pgsqld is running on: $S Promoted" >"$ROOT/attrs/locate/pgsqld"
  as_pg "$BIN/pgbench" -h "$(sock "$P")" -p "${PORT[$P]}" -U postgres -T 3 -c 2 postgres >/dev/null 2>&1
  as_pg "$BIN/pg_ctl" -D "$(data "$P")" -m immediate stop >/dev/null
  t0=$EPOCHREALTIME
  if [[ $method == rewind ]]; then
    agent_start "$P" rejoin=rewind rejoin_dir="$ROOT/$P/rejoin"
  else
    rm -rf "$(data "$P")"
    as_pg "$BIN/pg_basebackup" -h "$(sock "$S")" -p "${PORT[$S]}" -U postgres -D "$(data "$P")" -X stream -c fast
    node_conf "$P" "$S"
    agent_start "$P"
  fi
  wait_streaming "$S" "$P"
  t=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.2f", a-b}')
  echo "round $r: $method $P from $S: $t s"
  TIMES[$method]+="$t "
  P=$S S=$(other "$S")
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END{if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }
{
  echo
  echo "## Rejoin of a diverged former primary on one host: rejoin=rewind against pg_basebackup"
  echo
  echo "Generated by \`benches/rejoin-local.sh\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $("$BIN/postgres" --version),"
  echo "database $size (pgbench scale $SCALE), $REPS rounds per method). Each round promotes the standby, runs"
  echo "pgbench 3 s on the old primary, kills it, then times the rejoin until it streams from the new primary."
  echo
  echo "| Method | What runs | Median | Runs (s) |"
  echo "|---|---|---|---|"
  echo "| rewind | the agent's start, rejoin=rewind (check, saved WAL and report, pg_rewind, start) | $(median <<<"${TIMES[rewind]}") s | ${TIMES[rewind]}|"
  echo "| basebackup | rm -rf, pg_basebackup from the new primary, the agent's start | $(median <<<"${TIMES[basebackup]}") s | ${TIMES[basebackup]}|"
} | tee -a benches/REJOIN.md benches/RESULTS.md
