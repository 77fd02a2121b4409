# shellcheck shell=bash
# Chaos soak (issue 15): N faults drawn from a seed, each run as a scenario (scn_begin ..
# scn_end: writer, poller, bounded wait for health, missing rows, two writable primaries).
# Our agent runs with rejoin=rewind (and SYNC_MODE, sync_mode of the CIB): a lost node is
# only powered on; the rebuild of a node whose start the agent refused is an intervention,
# counted with the agent's reason. Results: $STATE/soak-<seed>/ (sequence, faults, summary,
# every fault's scenario directory, and the nodes' logs of a fault not survived).

# Every scenario kind with a fault, reused as is (rejoin=rewind is on for the whole soak, so
# the *-rewind variants are these same kinds), then the soak's own kinds below. Left out:
# bringup and sync-steady (no fault), overloaded-primary (70 s, no failover), headless-maxlag
# and rejoin-former-primary-async (the administrator accepts a loss there by design).
SOAK_KINDS=(kill-postmaster kill-standby switchover kill-primary-node isolate-primary
  rejoin-former-primary lagging-standby hung-primary hung-postmaster headless-after-start
  headless-after-switchover headless-double-failover sync-standbys-down
  stopped-postmaster-cont partition-primary standbys-poweroff paused-replay-primary-loss
  failover-second-fault)
# SOAK_ONLY="kind ...": draw from these kinds only (to try one kind, or replay a subset).
[[ -z ${SOAK_ONLY:-} ]] || read -ra SOAK_KINDS <<<"$SOAK_ONLY"
# Promoted monitor timeout of pcs-examples/cluster.crm: the soak's SIGSTOP lasts longer.
SOAK_MONITOR_TIMEOUT=${SOAK_MONITOR_TIMEOUT:-10}
# Our agent's rejoin for the soak: rewind (recommended), or default (PAF's behaviour: a
# former primary is refused, an intervention each time).
SOAK_REJOIN=${SOAK_REJOIN:-rewind}
# failure-timeout of the clone with rejoin=rewind, as the README recommends: a former primary
# Pacemaker started before any instance was promoted is refused; once that failure expires,
# Pacemaker starts it again and it rewinds from the new primary, with no administrator.
SOAK_FAILURE_TIMEOUT=${SOAK_FAILURE_TIMEOUT:-60s}
# What makes the soak fail: all (a lost row, two writable primaries, a fault not survived) or
# safety (the first two only: tests/run.sh, where survival is a figure the summary reports).
SOAK_GATE=${SOAK_GATE:-all}
[[ $SOAK_GATE == all || $SOAK_GATE == safety ]] || die "SOAK_GATE is all or safety"
# How long a node powered back on may take to run an instance again (s): with a
# failure-timeout, a refused start is retried once it expires (and at once with Pacemaker's
# recheck), so the wait covers it.
SOAK_REJOIN_WAIT=${SOAK_REJOIN_WAIT:-150}

# An administrator step the agent leaves to the administrator by design: one line in
# $SOAK_DIR/interventions, "<fault> <node>: <what and why>".
soak_intervention() {
  log "INTERVENTION on $1: $2"
  echo "$SCN $1: $2" >>"$SOAK_DIR/interventions"
}

instance_active_on() { # <node>: a Promoted or Unpromoted instance runs there
  local x
  x=$(mon_xml) || return 1
  [[ $(xq "count(//clone[@id='$CLONE']/resource[@active='true' and @failed='false']/node[@name='$1'])" <<<"$x") != 0 ]]
}
start_failed_on() { # <node>: Pacemaker recorded a failed start there (it will not retry)
  local x
  x=$(mon_xml) || return 1
  [[ $(xq "count(//failures/failure[@node='$1' and @task='start'])" <<<"$x") != 0 ]]
}
# The reason the agent gave for a failed start on <node> (its exit reason).
start_refusal() { mon_xml | xq "string(//failures/failure[@node='$1' and @task='start']/@exitreason)"; }

# Whether Pacemaker retries a failed start by itself (the failure-timeout of soak_prepare).
retried_start() { [[ $AGENT == ocf:rust:pgsqlms && $SOAK_REJOIN == rewind && -n $SOAK_FAILURE_TIMEOUT ]]; }
# wait_rejoined <node>: 0 once it runs an instance again, 1 when its start failed and
# Pacemaker will not retry it, or it was fenced again (a failed stop: PAF with a crashed
# primary), 2 after SOAK_REJOIN_WAIT seconds without either (a failed start still recorded).
wait_rejoined() {
  local n=$1 end=$((SECONDS + SOAK_REJOIN_WAIT)) nf
  nf=$(fence_count "$n")
  while ((SECONDS < end)); do
    # (crm_mon may still show the instance of a node lost a moment ago: ask PostgreSQL too)
    instance_active_on "$n" && npsql "$n" -c "SELECT 1" >/dev/null 2>&1 && return 0
    start_failed_on "$n" && ! retried_start && return 1
    fenced_since "$n" "$nf" && return 1
    sleep 1
  done
  return 2
}
# Why <node> was refused: the exit reason of its failed start, else the agent's last exit
# reason in its log (before a fencing).
refusal_of() {
  local why
  why=$(start_refusal "$1")
  [[ -n $why ]] || why="fenced again; last exit reason: $(grep -ho 'ocf-exit-reason:[^\]*' "$(ndir "$1")/var-log/pacemaker/pacemaker.log" 2>/dev/null | tail -1 | cut -c17-300)"
  echo "$why"
}

# A node booted before the cluster has recorded its fencing hears of it once it joins
# ("We were allegedly just fenced") and shuts Pacemaker down for good: after a fencing in
# the last 20 s, wait (bounded) until the cluster sees the node offline and clean.
settle_fencing() {
  local last
  last=$(grep "fenced $1\$" "$STATE/fence.log" 2>/dev/null | tail -1 | sed -n 's/^\[\([0-9:]*\)\..*/\1/p')
  [[ -n $last ]] && (($(date -u +%s) - $(date -u -d "$last" +%s) < 20)) || return 0
  wait_for 30 "$1 offline and clean" node_offline_clean "$1" || true
}

# REJOIN_HOOK of rejoin_node: power the node on, nothing else. When the agent refused to start
# it, the administrator's steps its refusal names, each counted as one intervention:
# crm_resource --cleanup once a primary runs (with rejoin=rewind the agent then rewinds it),
# and if it is refused again a rebuild from the primary (pg_basebackup).
soak_rejoin() {
  local n=$1 rc why reboots=1
  while :; do
    if ! node_up "$n"; then
      settle_fencing "$n"
      node_boot "$n"
      wait_for 60 "$n online" node_online "$n" || return 1
    fi
    rc=0; wait_rejoined "$n" || rc=$?
    # Fenced after its power-on (the fencing the cluster owed for the node it lost, when the
    # node came back first; or that of a failed stop): a real fence device's reboot brings the
    # node back, the sandbox's only powers it off, so boot it again, once.
    ((rc == 1)) && ! node_up "$n" && ((reboots-- > 0)) || break
    log "$n fenced after its power-on: booted again, as the fence device's reboot would"
  done
  case $rc in
    0) log "$n rejoined (powered on)"; return 0 ;;
    2) start_failed_on "$n" ||
      { log "$n runs no instance ${SOAK_REJOIN_WAIT}s after its power-on (no failed start): left to the checks"; return 0; } ;;
  esac
  why=$(refusal_of "$n")
  wait_for 60 "a promoted node" has_primary || return 1
  if [[ $AGENT == ocf:rust:pgsqlms && $SOAK_REJOIN == rewind ]] && node_up "$n"; then
    crm_exec crm_resource --cleanup --resource "$CLONE" --node "$n" >/dev/null 2>&1 || true
    rc=0; wait_rejoined "$n" || rc=$?
    if ((rc == 0)); then
      soak_intervention "$n" "start refused ($why); crm_resource --cleanup with a primary running: rejoined"
      return 0
    fi
    why="$why; after the cleanup: $(refusal_of "$n")"
  fi
  soak_intervention "$n" "start refused ($why); rebuilt (pg_basebackup) + crm_resource --cleanup"
  node_up "$n" || settle_fencing "$n"
  REJOIN_HOOK="" rejoin_node "$n" rebuild
}

# ---- the soak's own fault kinds -------------------------------------------------------------
# SOAK_PARAM (0-32767, drawn from the seed with the kind) chooses a kind's durations and victims.

# The primary's postmaster hung (SIGSTOP) longer than the promoted monitor timeout, then
# continued (SIGCONT) if its node was not fenced meanwhile.
scn_stopped_postmaster_cont() {
  scn_begin stopped-postmaster-cont || true
  local p pm nf hold
  p=$(promoted_node); nf=$(fence_count "$p")
  pm=$(head -1 "$(host_pgdata "$p")/postmaster.pid")
  hold=$((SOAK_MONITOR_TIMEOUT + 2 + SOAK_PARAM % 8))
  scn_fault "SIGSTOP of the postmaster of $p for ${hold}s (monitor timeout ${SOAK_MONITOR_TIMEOUT}s), then SIGCONT"
  node_exec_t 5 "$p" kill -STOP "$pm" || scn_fail "SIGSTOP failed"
  sleep "$hold"
  if node_up "$p" && node_exec_t 5 "$p" kill -CONT "$pm"; then
    log "SIGCONT of the postmaster $pm of $p"
  else
    log "$p was fenced while its postmaster was stopped"
  fi
  # Pacemaker may still fence it for a failed demote or stop: bounded, then power it on.
  wait_for 60 "healthy, or $p fenced" eval "cluster_healthy || fenced_since $p $nf" || true
  node_up "$p" || { rejoin_node "$p" poweron || scn_fail "$p did not rejoin"; }
  scn_end
}

# The primary alone on its side of a network partition (no quorum there), healed after a
# drawn 2-12 s: before or after the majority fenced it.
scn_partition_primary() {
  scn_begin partition-primary || true
  local p nf heal
  p=$(promoted_node); nf=$(fence_count "$p")
  heal=$((2 + SOAK_PARAM % 11))
  scn_fault "primary $p partitioned alone (bridge port down), healed after ${heal}s"
  ip -n "$SWNS" link set "p-$p" down
  sleep "$heal"
  # A fenced node's namespace may still hold the VIP: its port stays down until it boots.
  if ! fenced_since "$p" "$nf" && node_up "$p"; then
    ip -n "$SWNS" link set "p-$p" up
    log "partition healed"
  else
    log "$p was fenced during the partition"
  fi
  # A partition healed after the token timeout is often still followed by the fencing of the
  # primary a few seconds later (the membership changed meanwhile): let the cluster settle.
  sleep 10
  wait_for 60 "healthy, or $p fenced" eval "cluster_healthy || fenced_since $p $nf" || true
  node_up "$p" || { rejoin_node "$p" poweron || scn_fail "$p did not rejoin"; }
  scn_end
}

# Both standbys powered off at once (the primary loses quorum and stops), powered on again
# after a drawn 3-10 s.
scn_standbys_poweroff() {
  scn_begin standbys-poweroff || true
  local p s ss off
  p=$(promoted_node); ss=$(unpromoted_nodes | paste -sd' ')
  off=$((3 + SOAK_PARAM % 8))
  scn_fault "power off of both standbys $ss (primary $p loses quorum), back after ${off}s"
  for s in $ss; do node_poweroff "$s"; done
  sleep "$off"
  for s in $ss; do node_boot "$s"; done
  for s in $ss; do rejoin_node "$s" poweron || scn_fail "$s did not rejoin"; done
  scn_end
}

# Replay paused on a standby (drawn), then the primary powered off. Resuming the replay an
# administrator paused is the administrator's step.
scn_paused_replay_primary_loss() {
  scn_begin paused-replay-primary-loss || true
  local s st
  s=$(unpromoted_nodes | sed -n "$((1 + SOAK_PARAM % 2))p")
  npsql "$s" -c "SELECT pg_wal_replay_pause()" >/dev/null || scn_fail "cannot pause the replay on $s"
  sleep 2
  log "replay paused on $s: received $(received_lsn "$s"), replayed $(npsql "$s" -c "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint")"
  if primary_loss poweroff; then
    log "new primary: $NEWP (replay was paused on $s)"
    rejoin_node "$FORMER" poweron || scn_fail "$FORMER did not rejoin"
  fi
  if ! wait_for 60 "healthy cluster" cluster_healthy; then
    st=$(npsql "$s" -c "SELECT pg_get_wal_replay_pause_state()" 2>/dev/null || true)
    if [[ $st == paused || $st == "pause requested" ]]; then
      soak_intervention "$s" "replay still paused ($(cat "$STATE/health")): SELECT pg_wal_replay_resume()"
      npsql "$s" -c "SELECT pg_wal_replay_resume()" >/dev/null || scn_fail "cannot resume the replay on $s"
    fi
  fi
  scn_end
}

# The primary powered off, then within a drawn 0-5 s (a tenth of a second step), while the
# cluster is still failing over, a second fault on a drawn standby: kill -9 of its postmaster
# or its power-off (then the survivor has no quorum until it is back).
scn_failover_second_fault() {
  scn_begin failover-second-fault || true
  local p v tenths what pid
  p=$(promoted_node)
  v=$(others_of "$p" | sed -n "$((1 + SOAK_PARAM % 2))p")
  tenths=$(((SOAK_PARAM / 2) % 51))
  what=$(((SOAK_PARAM / 102) % 2))
  if ((what == 0)); then what="kill -9 of the postmaster"; else what="power off"; fi
  scn_fault "power off of primary $p, then $what of standby $v after $((tenths / 10)).$((tenths % 10))s"
  node_poweroff "$p"
  sleep "$((tenths / 10)).$((tenths % 10))"
  if [[ $what == "power off" ]]; then
    node_poweroff "$v"
    log "second fault: $v powered off"
    sleep 3
    rejoin_node "$v" poweron || scn_fail "$v did not rejoin"
  else
    pid=$(head -1 "$(host_pgdata "$v")/postmaster.pid")
    node_exec_t 5 "$v" kill -9 "$pid" || scn_fail "kill -9 on $v failed"
    log "second fault: postmaster $pid of $v killed"
  fi
  wait_for 120 "a promoted node" has_primary || scn_fail "no primary after the double fault"
  rejoin_node "$p" poweron || scn_fail "$p did not rejoin"
  scn_end
}

# ---- the soak -------------------------------------------------------------------------------
soak_settings() {
  local s="agent $AGENT, pcs-examples/cluster.crm (monitor 5s/10s promoted, migration-threshold=3, fencing)"
  if [[ $AGENT == ocf:rust:pgsqlms ]]; then
    s+=", rejoin=$SOAK_REJOIN, sync_mode=$SYNC_MODE sync_count=$SYNC_COUNT"
    retried_start && s+=", failure-timeout=$SOAK_FAILURE_TIMEOUT"
  else
    s+=", static synchronous_standby_names ANY 1, no rejoin (PAF)"
  fi
  echo "$s, TOKEN_MS=$TOKEN_MS, HEALTH_TIMEOUT=$HEALTH_TIMEOUT"
}

# After a fault not survived: bring every node back to a streaming instance, rebuilding
# the nodes that are down or do not stream (a standby may run, stuck, with Pacemaker
# content); as a last resort, a new sandbox.
soak_restore() {
  local n p
  crm_exec crm_resource --cleanup >/dev/null 2>&1 || true
  wait_for 30 "healthy cluster" cluster_healthy && return 0
  if p=$(promoted_node) && [[ -n $p ]]; then
    for n in $(others_of "$p"); do
      node_up "$n" && streams_from "$p" "$n" && continue
      log "restore: rebuilding $n"
      REJOIN_HOOK="" rejoin_node "$n" rebuild || true
    done
    crm_exec crm_resource --cleanup >/dev/null 2>&1 || true
    wait_for "$HEALTH_TIMEOUT" "healthy cluster" cluster_healthy && return 0
  fi
  log "restore: a new sandbox"
  cmd_down || true
  (cmd_up) || die "the soak cannot rebuild the sandbox"
  soak_prepare
}
streams_from() { # <primary> <standby>
  [[ $(npsql "$1" -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$2' AND state = 'streaming'") == 1 ]]
}

soak_prepare() {
  if [[ $AGENT == ocf:rust:pgsqlms && $SOAK_REJOIN == rewind ]]; then
    set_rejoin || die "cannot set rejoin=rewind"
    if [[ -n $SOAK_FAILURE_TIMEOUT ]]; then
      crm_exec crm_resource --resource "$CLONE" --meta --set-parameter failure-timeout \
        --parameter-value "$SOAK_FAILURE_TIMEOUT" >/dev/null || die "cannot set failure-timeout"
    fi
  fi
  wait_for "$HEALTH_TIMEOUT" "healthy cluster" cluster_healthy || die "not healthy before the soak: $(cat "$STATE/health")"
}

# soak_one <i> <kind> <param>: one fault; one line in $SOAK_DIR/faults:
#   <i> <kind> <PASS|FAIL> <outage|NA> <missing> <writable-at-once> <interventions> <seconds>
soak_one() {
  local i=$1 kind=$2 t0=$SECONDS res line outage missing maxp nint n
  SCN=soak-$i-$kind
  log "==== soak fault $i/$SOAK_N: $kind (param $3)"
  FORMER="" NEWP="" SCN_OUTAGE="" SCN_LOSS_ACCEPTED=""
  SOAK_PARAM=$3 SCN_NAME=$SCN REJOIN_HOOK=soak_rejoin "scn_${kind//-/_}" || true
  for n in $(all_nodes); do unblock_wal "$n"; done
  res=$STATE/results/$SCN/result
  line=$(head -1 "$res" 2>/dev/null || echo "SCENARIO $SCN: outage=NA acked=0 missing=NA result=FAIL")
  outage=$(sed -n 's/.* outage=\([^ ]*\).*/\1/p' <<<"$line")
  missing=$(sed -n 's/.* missing=\([^ ]*\).*/\1/p' <<<"$line")
  maxp=$(sed -n 's/.*writable primaries at once: \([0-9]*\).*/\1/p' "$res" 2>/dev/null || true)
  nint=$(grep -c "^$SCN " "$SOAK_DIR/interventions" 2>/dev/null || true)
  cp -a "$STATE/results/$SCN" "$SOAK_DIR/scenarios/" 2>/dev/null || true
  if [[ $line != *result=PASS* ]]; then
    log "fault $i ($kind) not survived: keeping the nodes' logs, restoring the cluster"
    for n in $(all_nodes); do
      mkdir -p "$SOAK_DIR/scenarios/$SCN/nodes/$n"
      cp -a "$(ndir "$n")/var-log/." "$SOAK_DIR/scenarios/$SCN/nodes/$n/" 2>/dev/null || true
    done
    cp "$STATE/fence.log" "$SOAK_DIR/scenarios/$SCN/" 2>/dev/null || true
    soak_restore
  fi
  echo "$i $kind $([[ $line == *result=PASS* ]] && echo PASS || echo FAIL) ${outage:-NA} ${missing:-NA} ${maxp:-NA} ${nint:-0} $((SECONDS - t0))" >>"$SOAK_DIR/faults"
}

# Median, p95 (nearest rank) and max of the numbers on stdin ("-" when none).
soak_dist() {
  sort -n | awk '{v[NR]=$1} END {
    if (NR == 0) { print "median=- p95=- max=-"; exit }
    m = int((NR + 1) / 2); p = int(0.95 * NR); if (p < 0.95 * NR) p++
    printf "median=%s p95=%s max=%s\n", v[m], v[p], v[NR] }'
}

soak_summary() {
  local f=$SOAK_DIR/faults k
  {
    echo "settings: $(soak_settings)"
    echo "commit: $SOAK_COMMIT"
    for k in $(awk '{print $2}' "$f" | sort -u); do
      awk -v k="$k" '$2==k {n++; s+=($3=="PASS"); if ($5!="NA") l+=$5; d+=($6>1); i+=$7}
        END {printf "kind %s: %d faults, %d survived, %d rows lost, %d double-primary moments, %d interventions, outage ", k, n, s, l, d, i}' "$f"
      awk -v k="$k" '$2==k && $4!="NA" {print $4}' "$f" | soak_dist
    done
    echo "outage (all): $(awk '$4!="NA" {print $4}' "$f" | soak_dist)"
    awk -v seed="$SOAK_SEED" '{n++; s+=($3=="PASS"); if ($5!="NA") l+=$5; d+=($6>1); i+=$7}
      END {printf "soak: %d faults, %d survived, %d rows lost, %d double-primary moments, %d interventions, seed %s\n", n, s, l, d, i, seed}' "$f"
  } >"$SOAK_DIR/summary"
  echo "==== soak summary ($SOAK_DIR)"
  cat "$SOAK_DIR/summary"
  [[ -s $SOAK_DIR/interventions ]] && { echo "interventions:"; cat "$SOAK_DIR/interventions"; }
  # non-zero when a row was lost or two primaries were writable at once, and (SOAK_GATE=all,
  # the default) when a fault was not survived
  awk -v gate="$SOAK_GATE" '($3!="PASS" && gate=="all") || ($5!="0" && $5!="NA") || $6>1 {bad=1} END {exit bad}' "$f"
}

# soak_run <N> [<seed>]: on a running sandbox.
soak_run() {
  local n=${1:-} i kinds=() params=()
  [[ $n =~ ^[0-9]+$ ]] && ((n > 0)) || die "usage: cluster.sh soak <N> [<seed>]"
  SOAK_N=$n SOAK_SEED=${2:-$((EPOCHSECONDS % 100000))}
  [[ $SOAK_SEED =~ ^[0-9]+$ ]] || die "the seed is a number"
  for i in "${SOAK_KINDS[@]}"; do declare -F "scn_${i//-/_}" >/dev/null || die "unknown soak kind $i"; done
  SOAK_DIR=$STATE/soak-$SOAK_SEED
  # the checkout the soak runs from, as it is at the start (the summary is written at the end)
  SOAK_COMMIT="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || echo " + uncommitted changes")"
  rm -rf "$SOAK_DIR"; mkdir -p "$SOAK_DIR/scenarios" "$STATE/results" "$STATE/bg"
  : >"$SOAK_DIR/faults"; : >"$SOAK_DIR/interventions"; : >"$STATE/results/summary"
  # Every draw is made here, before any fault, so the sequence depends on the seed alone.
  RANDOM=$SOAK_SEED
  for ((i = 1; i <= n; i++)); do
    kinds[i]=${SOAK_KINDS[RANDOM % ${#SOAK_KINDS[@]}]}
    params[i]=$RANDOM
  done
  for ((i = 1; i <= n; i++)); do echo "$i ${kinds[i]} ${params[i]}"; done >"$SOAK_DIR/sequence"
  log "soak: $n faults, seed $SOAK_SEED; $(soak_settings)"
  log "sequence (fault kind param): $(paste -sd, "$SOAK_DIR/sequence" | sed 's/,/, /g')"
  soak_prepare
  for ((i = 1; i <= n; i++)); do soak_one "$i" "${kinds[i]}" "${params[i]}"; done
  soak_summary
}
