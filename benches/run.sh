#!/bin/bash
# Benchmark of pgsqlms (this repository, Rust) against PAF 2.3 (Debian's resource-agents-paf,
# Perl), both run on the same real PostgreSQL 15 instances in the same run. As root:
#
#   benches/run.sh
#
# It builds the agent (cargo build --release: the static binary), creates a
# primary and two standbys (initdb/pg_basebackup as postgres, Unix sockets only, own ports and
# socket directories) in a temporary directory under /tmp, runs benches/bench.py (monitor on a
# standby and on the primary, stop/start of a standby, switchovers: wall time, CPU, child
# processes), removes the instances (also on failure or Ctrl-C), and writes
# benches/RESULTS.md (and the raw figures, benches/results.json).
#
# Environment: BENCH_MONITOR_CALLS (200 per agent and role), BENCH_REPS (5 per action and
# agent), BENCH_TRACE_CALLS (5 traced monitor calls for the process counts), BENCH_TIMEOUT
# (seconds, 1800: the whole measurement is killed after that), BENCH_NO_BUILD=1 (use the
# binary already built), BENCH_OUT (RESULTS.md path).
#
# Needs: postgresql-15, resource-agents-paf, pacemaker-cli-utils (crm_master), strace,
# python3, cargo. Pacemaker itself does not run: both agents call recording stand-ins (see
# RESULTS.md, "How").
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$HOME/.cargo/bin:$PATH
log() { printf '[run.sh %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (the agents switch to the postgres user)"
for f in /usr/lib/postgresql/15/bin/initdb /usr/lib/ocf/resource.d/heartbeat/pgsqlms \
         /usr/sbin/crm_master /usr/bin/strace /usr/bin/python3; do
  [[ -e $f ]] || die "missing $f"
done
OUT=${BENCH_OUT:-$REPO/benches/RESULTS.md}

# The ordinary release build is the static one (.cargo/config.toml).
BIN=target/x86_64-unknown-linux-gnu/release/pgsqlms
KIND="static (crt-static, x86_64-unknown-linux-gnu)"
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
  log "building the agent: cargo build --release"
  cargo build --release >&2
fi
[[ -x $BIN ]] || die "no agent binary at $BIN (cargo build --release)"

T=$(mktemp -d /tmp/pgsqlms-bench.XXXXXX)
cleanup() {
  local rc=$? d
  set +e
  for d in "$T"/node-*/data; do
    [[ -f $d/postmaster.pid ]] || continue
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$d" -m immediate -w stop \
      >/dev/null 2>&1
  done
  rm -rf "$T"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A copy, so that a concurrent build cannot change the binary under the benchmark.
cp "$BIN" "$T/pgsqlms"
log "agent: $BIN ($KIND): $("$T/pgsqlms" --version | head -1)"

started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
rc=0
timeout -k 10 "${BENCH_TIMEOUT:-1800}" /usr/bin/python3 "$REPO/benches/bench.py" \
  "$T" "$T/pgsqlms" "$REPO" "$T/results.json" || rc=$?
[[ -s $T/results.json ]] || die "no results (bench.py exit $rc)"
cp "$T/results.json" "$REPO/benches/results.json"
/usr/bin/python3 "$REPO/benches/report.py" "$T/results.json" "$OUT" \
  --binary "$T/pgsqlms" --binary-kind "$KIND" --started "$started" \
  --command "benches/run.sh$( [[ -n ${BENCH_MONITOR_CALLS:-}${BENCH_REPS:-} ]] && printf ' (BENCH_MONITOR_CALLS=%s BENCH_REPS=%s)' "${BENCH_MONITOR_CALLS:-200}" "${BENCH_REPS:-5}")"
log "wrote $OUT"
((rc == 0)) || die "bench.py failed (exit $rc): see the Errors section of $OUT"
