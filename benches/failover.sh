#!/bin/bash
# Failover and switchover times of pgsqlms (ocf:rust:pgsqlms) and PAF 2.3
# (ocf:heartbeat:pgsqlms) in a real 3-node Pacemaker/Corosync cluster: the namespace sandbox
# of tests/cluster (cluster.sh), same CIB (pcs-examples/cluster.crm), same TOKEN_MS, only
# AGENT differs. As root, from the repository root (about 2 minutes per round of both agents):
#
#   FAILOVER_REPS=5 benches/failover.sh
#
# Round r, for each agent (ours first in odd rounds, PAF first in even ones, so that a change
# of the machine's load hits both): cluster.sh up, a random pause of 0-5 s, cluster.sh
# scenario kill-postmaster switchover kill-primary-node, cluster.sh down, then the round's
# results and node logs are saved. Rounds go on until every scenario passed FAILOVER_REPS times for both agents (at
# most FAILOVER_EXTRA more rounds), and no round starts once it would end past
# FAILOVER_BUDGET seconds. The outage of a scenario is measured by the harness's writer: from
# the fault to the first write acknowledged through the VIP afterwards.
#
# Writes benches/failover-logs/ (per-agent summaries with each round's load average, per-round
# timelines extracted from the Pacemaker/Corosync logs, run.env), then
# benches/failover_report.py writes benches/FAILOVER.md and puts it at the end of
# benches/RESULTS.md. The raw logs stay in FAILOVER_RAW (/var/tmp/pgsqlms-bench-failover/<date>).
#
# Environment: FAILOVER_KIND (failover, or hung), FAILOVER_REPS (5), FAILOVER_EXTRA (2), FAILOVER_BUDGET (3300 s),
# FAILOVER_SCENARIOS, FAILOVER_AGENTS, FAILOVER_RAW, AGENT_BIN (our binary; default the
# release build, target/x86_64-unknown-linux-gnu/release/pgsqlms). The sandbox has its own namespace prefix, subnet, state
# directory and mount point (PFX=pgbench, SUBNET=10.98.0, STATE=/var/tmp/pgsqlms-bench-cluster,
# PGMOUNT=/srv/pgsqlms-bench-sandbox): it does not collide with a tests/cluster run.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The command as given (its settings from the environment), for the report.
CMD=$(for v in FAILOVER_KIND FAILOVER_REPS FAILOVER_EXTRA FAILOVER_BUDGET FAILOVER_SCENARIOS FAILOVER_AGENTS AGENT_BIN TOKEN_MS; do
  if [[ -n ${!v:-} ]]; then printf "%s='%s' " "$v" "${!v}"; fi
done)benches/failover.sh
H=$REPO/tests/cluster/cluster.sh
REPS=${FAILOVER_REPS:-5}
EXTRA=${FAILOVER_EXTRA:-2}
BUDGET=${FAILOVER_BUDGET:-3300}
# FAILOVER_KIND=hung: the hung-primary scenario (issue 11) instead, in its own logs, HUNG.md and
# section of RESULTS.md, so that the failover results stay as they are.
KIND=${FAILOVER_KIND:-failover}
case $KIND in
  failover) DEFAULT_SCNS="kill-postmaster switchover kill-primary-node" LOGS_NAME=failover-logs ;;
  hung) DEFAULT_SCNS="hung-primary" LOGS_NAME=failover-logs-hung ;;
  *) echo "FAILOVER_KIND is failover or hung" >&2; exit 2 ;;
esac
read -r -a SCNS <<<"${FAILOVER_SCENARIOS:-$DEFAULT_SCNS}"
read -r -a AGENTS <<<"${FAILOVER_AGENTS:-ocf:rust:pgsqlms ocf:heartbeat:pgsqlms}"
export PFX=${PFX:-pgbench} SUBNET=${SUBNET:-10.98.0} STATE=${STATE:-/var/tmp/pgsqlms-bench-cluster}
export PGMOUNT=${PGMOUNT:-/srv/pgsqlms-bench-sandbox}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
RAW=${FAILOVER_RAW:-/var/tmp/pgsqlms-bench-failover/$(date -u +%Y%m%dT%H%M%SZ)}
LOGS=$REPO/benches/$LOGS_NAME
log() { printf '[failover.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "$*"; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root"
[[ -x $H ]] || die "no cluster harness at $H"

AGENT_BIN=${AGENT_BIN:-$REPO/target/x86_64-unknown-linux-gnu/release/pgsqlms}
[[ -x $AGENT_BIN ]] && "$AGENT_BIN" meta-data >/dev/null 2>&1 ||
  die "no working agent binary at $AGENT_BIN (cargo build --release, or AGENT_BIN=...)"
mkdir -p "$RAW"
# A copy, so that a rebuild during the run changes nothing.
cp -p "$AGENT_BIN" "$RAW/pgsqlms"
BIN_SRC=$AGENT_BIN
export AGENT_BIN=$RAW/pgsqlms

t_start=$SECONDS
current=""
cleanup() {
  local rc=$?
  set +e
  if [[ -n $current ]]; then
    log "interrupted: tearing down the $current sandbox"
    AGENT=$current "$H" down >/dev/null 2>&1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pkg() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "?"; }
write_env() {
  local src_commit kind=dynamic built
  built=$(date -u -r "$BIN_SRC" '+%Y-%m-%d %H:%M:%S UTC')
  local sources=("$REPO/src" "$REPO/Cargo.toml" "$REPO/Cargo.lock")
  if git -C "$REPO" diff --quiet HEAD -- "${sources[@]}" 2>/dev/null &&
     [[ -z $(find "${sources[@]}" -newer "$BIN_SRC" -print -quit) ]]; then
    # nothing changed in the sources since the build, and they are committed
    src_commit="built from the sources of $(git -C "$REPO" log -1 --format='%h' -- "${sources[@]}")"
  else
    src_commit="last commit on src/ before it: $(git -C "$REPO" log -1 --before="$built" --format='%h of %cd' --date=format:'%H:%M' -- "${sources[@]}" 2>/dev/null || echo "?")"
  fi
  file -L "$RAW/pgsqlms" 2>/dev/null | grep -q 'static' && kind=static
  # shellcheck disable=SC1091
  . /etc/os-release
  {
    echo "command=$CMD"
    echo "started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "reps=$REPS"
    echo "scenarios=${SCNS[*]}"
    echo "token_ms=${TOKEN_MS:-2000}"
    echo "machine=$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/{printf "%.0f GB RAM", $2/1048576}' /proc/meminfo), kernel $(uname -r), $PRETTY_NAME"
    echo "pacemaker=Pacemaker $(pkg pacemaker)"
    echo "corosync=Corosync $(pkg corosync), libknet $(pkg libknet1)"
    echo "resource_agents=resource-agents $(pkg resource-agents)"
    echo "postgresql=$("$PGBIN/postgres" --version | sed 's/^postgres (PostgreSQL)/PostgreSQL/') (package $(pkg postgresql-15))"
    echo "paf=resource-agents-paf $(pkg resource-agents-paf) (/usr/lib/ocf/resource.d/heartbeat/pgsqlms), Perl $(perl -e 'print $^V')"
    echo "ours=$("$RAW/pgsqlms" --version | head -1), $kind release build of $built (sha256 $(sha256sum "$RAW/pgsqlms" | cut -c1-12), $src_commit)"
  } >"$LOGS/run.env"
}

# Save what the round left in $STATE (after `down`: logs are kept there until the next `up`).
collect() {
  local d=$1 s n
  mkdir -p "$d/results" "$d/nodes"
  for s in "${SCNS[@]}"; do
    [[ -d $STATE/results/$s ]] || continue
    mkdir -p "$d/results/$s"
    for f in fault writes result move.log crm_mon; do
      [[ -e $STATE/results/$s/$f ]] && cp "$STATE/results/$s/$f" "$d/results/$s/"
    done
  done
  [[ -e $STATE/fence.log ]] && cp "$STATE/fence.log" "$d/"
  for n in "$STATE"/nodes/node*; do
    [[ -d $n ]] || continue
    mkdir -p "$d/nodes/${n##*/}"
    for f in pacemaker/pacemaker.log corosync/corosync.log postgresql/postgresql.log; do
      [[ -e $n/var-log/$f ]] && cp "$n/var-log/$f" "$d/nodes/${n##*/}/"
    done
  done
  return 0
}

# One agent, one round: fresh cluster, the scenarios, teardown, results.
cycle() {
  local agent=$1 r=$2 tag d t0 start load l1 l5 l15 status=ok delay=-
  tag=${agent//:/_}
  d=$RAW/$tag/r$r
  mkdir -p "$d" "$LOGS/$tag"
  read -r l1 l5 l15 _ </proc/loadavg
  load="$l1,$l5,$l15"
  t0=$SECONDS start=$(date -u +%H:%M:%S)
  log "round $r, $agent: up (load $load)"
  current=$agent
  AGENT=$agent "$H" down >/dev/null 2>&1 || true
  if AGENT=$agent timeout 300 "$H" up >"$d/up.log" 2>&1; then
    # The harness injects its first fault at a fixed time after `up`, so the phase of the
    # primary's 5 s monitor at the fault (0 to 5 s of detection delay in kill-postmaster)
    # would be the same in every round and differ between the agents (their bring-ups take
    # different times): a random pause spreads it uniformly.
    delay=$(awk -v seed="$RANDOM" 'BEGIN { srand(seed); printf "%.2f", rand() * 5 }')
    sleep "$delay"
    log "round $r, $agent: ${SCNS[*]} (after a pause of $delay s)"
    AGENT=$agent timeout 900 "$H" scenario "${SCNS[@]}" >"$d/scenarios.log" 2>&1 || {
      status=failed-scenario
      log "round $r, $agent: a scenario failed (see $d/scenarios.log)"
    }
  else
    status=bringup-failed
    log "round $r, $agent: bring-up failed (see $d/up.log)"; tail -20 "$d/up.log" >&2
  fi
  AGENT=$agent "$H" down >"$d/down.log" 2>&1 || log "round $r, $agent: down reported leftovers (see $d/down.log)"
  current=""
  collect "$d"
  {
    echo "ROUND $r start=$start load=$load seconds=$((SECONDS - t0)) pause=$delay status=$status"
    if [[ $status != bringup-failed && -e $STATE/results/summary ]]; then cat "$STATE/results/summary"; fi
  } >>"$LOGS/$tag.summary"
  /usr/bin/python3 "$REPO/benches/failover_report.py" extract "$d" >"$LOGS/$tag/r$r.tsv" ||
    log "round $r, $agent: timeline extraction failed"
  grep "^SCENARIO" "$STATE/results/summary" 2>/dev/null | sed "s/^/  $agent r$r: /" >&2 || true
}

passes() {
  local n
  n=$(grep -c "^SCENARIO $2: .* result=PASS" "$LOGS/$1.summary" 2>/dev/null) || true
  echo "${n:-0}"
}
need_more() {
  local a s
  for a in "${AGENTS[@]}"; do
    for s in "${SCNS[@]}"; do
      (($(passes "${a//:/_}" "$s") < REPS)) && return 0
    done
  done
  return 1
}

# Fresh results: this run's summaries, timelines and run.env replace the previous ones.
mkdir -p "$LOGS"
for a in "${AGENTS[@]}"; do rm -rf "${LOGS:?}/${a//:/_}" "$LOGS/${a//:/_}.summary"; done
write_env
log "raw logs in $RAW; agent binary $BIN_SRC"

r=0
while ((r < REPS + EXTRA)); do
  ((r < REPS)) || need_more || break
  if ((r > 0)); then
    per_round=$(((SECONDS - t_start) / r))
    if ((SECONDS - t_start + per_round > BUDGET)); then
      log "time budget (${BUDGET} s) reached after $r rounds"; break
    fi
  fi
  r=$((r + 1))
  order=("${AGENTS[@]}")
  if ((r % 2 == 0)); then
    order=()
    for ((i = ${#AGENTS[@]} - 1; i >= 0; i--)); do order+=("${AGENTS[i]}"); done
  fi
  for a in "${order[@]}"; do cycle "$a" "$r"; done
done

# Nothing of the sandbox may be left: namespaces, node inits, mount point.
leftover=""
ip netns list 2>/dev/null | grep -q "^$PFX-" && leftover+=" namespaces: $(ip netns list | grep "^$PFX-" | cut -d' ' -f1 | paste -sd' ')"
# (the nodes' corosync, pacemaker and postgres run in the pid namespace of their init and die
# with it; host-side helpers have the state directory or the mount point in their arguments)
pgrep -f -- "$STATE/|$PGMOUNT" >/dev/null && leftover+=" processes: $(pgrep -f -- "$STATE/|$PGMOUNT" | paste -sd' ')"
[[ -e $PGMOUNT ]] && leftover+=" mount point $PGMOUNT"
if [[ -n $leftover ]]; then log "WARNING: left behind:$leftover"; else log "teardown clean: no namespace, process or mount point left"; fi
{
  echo "finished=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "duration=$(((SECONDS - t_start) / 60)) min $(((SECONDS - t_start) % 60)) s, $r rounds"
  echo "teardown=${leftover:-clean}"
} >>"$LOGS/run.env"

if [[ $KIND == hung ]]; then
  /usr/bin/python3 "$REPO/benches/failover_report.py" report-hung "$LOGS" "$REPO/benches/HUNG.md" "$REPO/benches/RESULTS.md" \
    "## Hung primary in a real Pacemaker cluster" >/dev/null
  log "wrote benches/HUNG.md and its section of benches/RESULTS.md ($(((SECONDS - t_start) / 60)) min)"
else
  /usr/bin/python3 "$REPO/benches/failover_report.py" report "$LOGS" "$REPO/benches/FAILOVER.md" "$REPO/benches/RESULTS.md" >/dev/null
  log "wrote benches/FAILOVER.md and its section of benches/RESULTS.md ($(((SECONDS - t_start) / 60)) min)"
fi
