# shellcheck shell=bash
# Fault scenarios. Each runs a writer (client namespace, through the VIP) and a poller (every
# node's pg_is_in_recovery()), injects one fault, waits for the cluster to heal, then checks:
#   - every acknowledged row is on the primary (missing=0)
#   - never more than one writable primary seen in one polling round
#   - 1 promoted + N-1 unpromoted healthy instances within HEALTH_TIMEOUT
# and prints: SCENARIO <name>: outage=<s> acked=<n> missing=<n> result=PASS|FAIL

SCENARIOS=(bringup kill-postmaster kill-standby switchover kill-primary-node isolate-primary
  rejoin-former-primary lagging-standby hung-primary hung-postmaster overloaded-primary)
# The same losses of the primary with rejoin=rewind: the harness only powers the former
# primary back on (issue 12). "cluster.sh all" runs them after SCENARIOS, "cluster.sh rewind"
# alone.
REWIND_SCENARIOS=(kill-primary-node-rewind isolate-primary-rewind rejoin-former-primary-rewind
  rejoin-former-primary-async)
# Losing the primary right after a start-up or a failover (issue 9): run last by "cluster.sh
# all", alone by "cluster.sh headless".
HEADLESS_SCENARIOS=(headless-after-start headless-after-switchover headless-double-failover
  headless-maxlag)
# Managed synchronous replication (issue 13): "cluster.sh all" runs them before the headless
# ones, "cluster.sh sync" alone.
SYNC_SCENARIOS=(sync-steady sync-standbys-down sync-standbys-down-strict sync-not-caught-up
  sync-removal-commit)
SCN_MAX=${SCN_MAX:-420}   # bound of the writer and poller of one scenario (s)

scenario_list() { printf '%s\n' "${SCENARIOS[@]}" "${REWIND_SCENARIOS[@]}" "${HEADLESS_SCENARIOS[@]}" "${SYNC_SCENARIOS[@]}"; }

bg_start() { # bg_start <name> <cmd...>: bounded background job, killed by cmd_down too
  local name=$1; shift
  setsid "$@" </dev/null >>"$RUN/$name.stderr" 2>&1 &
  echo $! >"$STATE/bg/$name.pid"
  disown $! 2>/dev/null || true
}
bg_stop() {
  local name=$1 p
  [[ -s $STATE/bg/$name.pid ]] || return 0
  p=$(<"$STATE/bg/$name.pid")
  for _ in $(seq 1 60); do [[ -d /proc/$p ]] || break; sleep 0.1; done
  kill -9 -- "-$p" "$p" 2>/dev/null || true
  rm -f "$STATE/bg/$name.pid"
}

scn_fail() { log "CHECK FAILED: $*"; SCN_ERRORS+=("$*"); }
fenced_since() { (($(fence_count "$1") > $2)); }
fence_count() { grep -c "fenced $1\$" "$STATE/fence.log" 2>/dev/null || true; }

scn_begin() {
  SCN=${SCN_NAME:-$1} SCN_ERRORS=() FAULT_T=""
  RUN=$STATE/results/$SCN
  TAG=$SCN.$(date +%s)   # rows of this run: writes.scn = $TAG
  rm -rf "$RUN"; mkdir -p "$RUN"
  log "==== scenario $SCN ($AGENT)"
  ensure_full_cluster || scn_fail "cluster not healthy before the scenario: $(cat "$STATE/health")"
  show_mark
  local nodeargs=() n
  for n in $(all_nodes); do nodeargs+=("$n=$(node_ip "$n")"); done
  bg_start writer ip netns exec "$CLNS" "$HDIR/writer.sh" "$TAG" "$VIP" "$RUN/writes" "$RUN/stop" "$SCN_MAX" "$PGBIN/psql"
  bg_start poller "$HDIR/poller.sh" "$RUN/poll" "$RUN/stop" "$SCN_MAX" "$PGBIN/psql" "$PFX" "${nodeargs[@]}"
  wait_for 30 "first acknowledged write" grep -Eq ' ok( |$)' "$RUN/writes" || scn_fail "no write acknowledged before the fault"
  sleep 2
}
scn_fault() { FAULT_T=$(now); log "fault: $*"; echo "$FAULT_T $*" >"$RUN/fault"; }

# Wait for health, let the writer run a bit more, stop workloads, compute and print results.
scn_end() {
  local t_heal rc=PASS acked missing outage maxp present
  if wait_for "$HEALTH_TIMEOUT" "healthy cluster after $SCN" cluster_healthy; then
    t_heal=$(now)
    log "healthy again $(awk -v a="$t_heal" -v b="${FAULT_T:-$t_heal}" 'BEGIN{printf "%.1f", a-b}') s after the fault"
    wait_for 30 "writes acknowledged after healing" awk -v t="$t_heal" '$4=="ok" && $1>=t {f=1} END{exit !f}' "$RUN/writes" ||
      scn_fail "no write acknowledged after healing"
    show_check
  else
    scn_fail "cluster not healthy within ${HEALTH_TIMEOUT}s: $(cat "$STATE/health")"
  fi
  touch "$RUN/stop"
  bg_stop writer; bg_stop poller
  awk '$4=="ok"{print $3}' "$RUN/writes" | sort >"$RUN/acked"
  acked=$(wc -l <"$RUN/acked")
  # (rows that cannot be read back are unknown, not lost: missing=NA, and the scenario fails)
  if cpsql "$VIP" -c "SELECT id FROM writes WHERE scn = '$TAG'" 2>/dev/null | sort >"$RUN/present"; then
    missing=$(comm -23 "$RUN/acked" "$RUN/present" | wc -l)
  else
    missing=NA
    scn_fail "cannot read the rows back through the VIP"
  fi
  present=$(wc -l <"$RUN/present")
  # SCN_LOSS_ACCEPTED: the scenario's administrator knowingly promoted a standby that lacks WAL.
  [[ $missing == 0 || $missing == NA ]] || [[ -n ${SCN_LOSS_ACCEPTED:-} ]] ||
    scn_fail "$missing acknowledged rows missing on the primary: $(comm -23 "$RUN/acked" "$RUN/present" | head -5 | paste -sd' ')"
  ((acked > 0)) || scn_fail "no acknowledged write at all"
  if [[ -n $FAULT_T ]]; then
    # Longest time without any acknowledged write, counted from the fault; for a failover it
    # is the time from the fault to the first write acknowledged by the new primary.
    outage=$(awk -v t="$FAULT_T" '$4=="ok" && $2>=t {print $2}' "$RUN/writes" | sort -n |
      awk -v t="$FAULT_T" 'BEGIN{p=t; m=-1} {if ($1-p>m) m=$1-p; p=$1} END{if (m>=0) print m}')
    [[ -n $outage ]] || { outage=NA; scn_fail "no write acknowledged after the fault"; }
    # A writer that stopped acknowledging before the end has no meaningful outage.
    [[ -n ${t_heal:-} ]] && ! awk -v t="$t_heal" '$4=="ok" && $1>=t {f=1} END{exit !f}' "$RUN/writes" && outage=NA
    [[ $outage == NA ]] || outage=$(printf '%.1f' "$outage")
  else
    outage=${SCN_OUTAGE:-0.0}
  fi
  # Runs of consecutive "writable" observations per node; two runs of different nodes that
  # overlap in time mean two writable primaries at once.
  sort -n "$RUN/poll" | awk '
    function emit(n) { runs[++k] = n " " rs[n] " " re[n]; delete rs[n] }
    $3 == "f" { if (!($2 in rs)) rs[$2] = $1; re[$2] = $1; next }
    ($2 in rs) { emit($2) }
    END { for (n in rs) emit(n); for (i = 1; i <= k; i++) print runs[i] }' >"$RUN/primary-runs"
  maxp=$(awk '{n[NR]=$1; s[NR]=$2; e[NR]=$3} END {m = (NR > 0); for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++)
      if (n[i] != n[j] && s[i] <= e[j] && s[j] <= e[i]) { m = 2; printf "%s %.2f-%.2f and %s %.2f-%.2f\n", n[i], s[i], e[i], n[j], s[j], e[j] > "/dev/stderr" }
      print m}' "$RUN/primary-runs" 2>"$RUN/split-brain")
  ((maxp <= 1)) || scn_fail "two writable primaries seen at once: $(head -1 "$RUN/split-brain")"
  ((${#SCN_ERRORS[@]} == 0)) || rc=FAIL
  {
    echo "SCENARIO $SCN: outage=$outage acked=$acked missing=$missing result=$rc"
    printf '  check failed: %s\n' "${SCN_ERRORS[@]}" | grep -v '^  check failed: $' || true
    echo "  (rows on primary: $present, writable primaries at once: $maxp, agent $AGENT)"
  } | tee "$RUN/result"
  show_status | tee "$RUN/crm_mon"
  echo "SCENARIO $SCN: outage=$outage acked=$acked missing=$missing result=$rc" >>"$STATE/results/summary"
  # Failures of this scenario must not count against migration-threshold in the next one.
  crm_exec crm_resource --cleanup >/dev/null 2>&1 || true
  [[ $rc == PASS ]]
}

# Bring back any powered-off node and wait for a healthy cluster.
ensure_full_cluster() {
  local n p
  cluster_healthy && return 0
  for n in $(all_nodes); do
    node_up "$n" && continue
    log "node $n is down: rebuilding it before the scenario"
    wait_for 60 "a promoted node" has_primary || return 1
    rejoin_node "$n" rebuild || return 1
  done
  crm_exec crm_resource --cleanup >/dev/null 2>&1 || true
  wait_for "$HEALTH_TIMEOUT" "healthy cluster" cluster_healthy
}

# Wait until Pacemaker fenced a node (count of "fenced <n>" in fence.log above $2).
wait_fenced() { # wait_fenced <node> <count before> [<seconds>, 90]
  local n=$1 before=$2
  wait_for "${3:-90}" "$n fenced" fenced_since "$n" "$before" || { scn_fail "$n was not fenced"; return 1; }
  log "$n fenced by the cluster"
}
promotion_score() {
  crm_exec crm_attribute --promotion=pgsqld --lifetime reboot --node "$1" --query --quiet 2>/dev/null ||
    crm_exec crm_attribute --promotion=pgsqld --lifetime forever --node "$1" --query --quiet 2>/dev/null
}
best_score_is() {
  local t=$1 n st so
  st=$(promotion_score "$t") || return 1
  for n in $(others_of "$t"); do
    so=$(promotion_score "$n") || continue
    ((so < st)) || return 1
  done
}
has_primary() { [[ -n $(promoted_node) ]]; }
wait_new_primary() { # wait_new_primary <old> [<seconds>, 120]: prints a promoted node other than <old>
  local old=$1 end=$((SECONDS + ${2:-120})) p
  while ((SECONDS < end)); do
    p=$(promoted_node 2>/dev/null || true)
    if [[ -n $p && $p != "$old" ]]; then echo "$p"; return 0; fi
    sleep 0.2
  done
  return 1
}

# The end of a scenario that lost primary <p>: its fencing (the count was <fence count
# before>), a new primary within <seconds> (<expected> when given, in NEWP), then <p> rebuilt
# and back. A scenario that had no primary before the loss calls it headless.
rejoin_after_primary_loss() { # <p> <fence count before> <seconds> [<expected>]
  local p=$1 nf=$2 seconds=$3 expected=${4:-} np
  wait_fenced "$p" "$nf" || true
  if np=$(wait_new_primary "$p" "$seconds"); then
    [[ -z $expected || $np == "$expected" ]] || scn_fail "$np was promoted, not $expected"
    log "new primary: $np"
    NEWP=$np
    rejoin_node "$p" rebuild || scn_fail "$p did not rejoin"
  else
    scn_fail "no new primary within $seconds s: the cluster stayed headless"
  fi
}

# Bring a dead node back: rebuild its data from the primary (or finish crash recovery of a
# standby), power it on, wait until it is online, then crm_resource --cleanup.
rejoin_node() {
  local n=$1 how=$2 p
  # The soak (lib/soak.sh) brings every node back by powering it on, rebuilding only a refused one.
  [[ -z ${REJOIN_HOOK:-} ]] || { "$REJOIN_HOOK" "$n" "$how"; return; }
  if node_up "$n"; then
    node_poweroff "$n"
    # Nodes left with quorum fence the node they just lost: booted before that, it would be
    # fenced after its boot. Nodes left without quorum fence nobody (and soon stop their
    # primary, the rebuild's source), so there is nothing to wait for.
    if (($(nodes_up_count) * 2 > NODES_N)); then
      wait_for 30 "$n offline and clean" node_offline_clean "$n" || true
    fi
  fi
  p=$(promoted_node) || true
  [[ -n $p ]] || { log "no primary to rebuild $n from"; return 1; }
  if [[ $how == recover ]]; then
    pg_recover_standby "$n" || { log "crash recovery of $n failed, rebuilding it"; how=rebuild; }
  fi
  if [[ $how == rebuild ]]; then
    log "rebuilding $n from $p (pg_basebackup)"
    pg_rebuild_node "$n" "$p" || return 1
  fi
  node_boot "$n"
  wait_for 60 "$n online" node_online "$n" || return 1
  # poweron: nothing but the power button; Pacemaker and the agent do the rest.
  [[ $how == poweron ]] || crm_exec crm_resource --cleanup --resource "$CLONE" --node "$n" >/dev/null 2>&1 || true
  log "$n rejoined ($how)"
}

# ---- scenarios -----------------------------------------------------------------------------
scn_bringup() {
  scn_begin bringup || true
  local p
  p=$(promoted_node)
  if [[ -s $STATE/up.times ]]; then
    # Right after "up": the instance cleanly stopped on node1 must be the one elected.
    [[ $p == node1 ]] || scn_fail "first start elected [$p], expected node1 (cleanly stopped primary)"
    read -r t_cib t_write <"$STATE/up.times"
    SCN_OUTAGE=$(awk -v a="$t_write" -v b="$t_cib" 'BEGIN{printf "%.1f", a-b}')
    rm -f "$STATE/up.times"
  fi
  sleep 3
  scn_end
}

scn_kill_postmaster() {
  scn_begin kill-postmaster || true
  local p pid
  p=$(promoted_node)
  pid=$(head -1 "$(host_pgdata "$p")/postmaster.pid")
  scn_fault "kill -9 of the postmaster of $p (pid $pid in the node)"
  node_exec_t 5 "$p" kill -9 "$pid" || scn_fail "kill failed"
  sleep 2
  scn_end
}

scn_kill_standby() {
  scn_begin kill-standby || true
  local s nf
  s=$(unpromoted_nodes | tail -1)
  nf=$(fence_count "$s")
  scn_fault "power off of standby $s"
  node_poweroff "$s"
  wait_fenced "$s" "$nf" || true
  sleep 2
  rejoin_node "$s" recover || scn_fail "$s did not rejoin"
  scn_end
}

scn_switchover() {
  scn_begin switchover || true
  local p t end
  p=$(promoted_node); t=$(unpromoted_nodes | head -1)
  scn_fault "crm_resource --move --promoted to $t"
  crm_exec crm_resource --move --promoted --resource "$CLONE" --node "$t" >"$RUN/move.log" 2>&1 || scn_fail "move failed: $(cat "$RUN/move.log")"
  end=$((SECONDS + 90))
  while ((SECONDS < end)) && [[ $(promoted_node) != "$t" ]]; do sleep 0.5; done
  [[ $(promoted_node) == "$t" ]] || scn_fail "$t not promoted after the move"
  # Like an admin: clear the move constraint once the new primary has the best promotion score
  # (set by the agent's monitor), otherwise Pacemaker may move the primary straight back.
  wait_for 30 "$t holding the best promotion score" best_score_is "$t" || true
  crm_exec crm_resource --clear --resource "$CLONE" >>"$RUN/move.log" 2>&1 || scn_fail "clear failed"
  wait_for "$HEALTH_TIMEOUT" "healthy cluster" cluster_healthy || true
  sleep 3
  [[ $(promoted_node) == "$t" ]] || scn_fail "primary moved back from $t to $(promoted_node) after --clear"
  scn_end
}

# Power off (or isolate) the primary, wait for fencing and the new primary, then rebuild and
# rejoin the former primary.
primary_loss() {
  local how=$1 p nf np
  p=$(promoted_node)
  nf=$(fence_count "$p")
  if [[ $how == isolate ]]; then
    scn_fault "bridge port of primary $p down (isolated)"
    ip -n "$SWNS" link set "p-$p" down
  else
    scn_fault "power off of primary $p"
    node_poweroff "$p"
  fi
  wait_fenced "$p" "$nf" || true
  np=$(wait_new_primary "$p") || { scn_fail "no new primary"; return 1; }
  log "new primary: $np"
  FORMER=$p NEWP=$np
}

scn_kill_primary_node() {
  scn_begin kill-primary-node || true
  primary_loss poweroff && { rejoin_node "$FORMER" "${REJOIN_HOW:-rebuild}" || scn_fail "$FORMER did not rejoin"; }
  scn_end
}

scn_isolate_primary() {
  scn_begin isolate-primary || true
  primary_loss isolate && { rejoin_node "$FORMER" "${REJOIN_HOW:-rebuild}" || scn_fail "$FORMER did not rejoin"; }
  scn_end
}

scn_rejoin_former_primary() {
  scn_begin rejoin-former-primary || true
  local t0 missing
  if primary_loss poweroff; then
    sleep 3   # writes go on with one standby while the former primary is down
    t0=$(now)
    rejoin_node "$FORMER" "${REJOIN_HOW:-rebuild}" || scn_fail "$FORMER did not rejoin"
    wait_for "$HEALTH_TIMEOUT" "healthy cluster" cluster_healthy || true
    # benches/rejoin.sh reads this line
    log "former primary $FORMER rejoined as a standby ($(awk -v a="$(now)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s, ${REJOIN_HOW:-rebuild})"
    # The rebuilt standby must hold every acknowledged row (once it replayed up to the primary).
    sleep 2
    awk '$4=="ok"{print $3}' "$RUN/writes" | sort >"$RUN/acked-so-far"
    npsql "$FORMER" -c "SELECT id FROM writes WHERE scn = '$TAG'" | sort >"$RUN/on-rejoined"
    missing=$(comm -23 "$RUN/acked-so-far" "$RUN/on-rejoined" | wc -l)
    ((missing == 0)) || scn_fail "$missing acknowledged rows missing on the rejoined standby $FORMER"
    [[ $(unpromoted_nodes) == *"$FORMER"* ]] || scn_fail "$FORMER is not an unpromoted instance"
  fi
  scn_end
}

# ---- rejoin=rewind (issue 12) ----------------------------------------------------------------
set_rejoin() { crm_exec crm_resource --resource pgsqld --set-parameter rejoin --parameter-value rewind >/dev/null; }
unset_rejoin() { crm_exec crm_resource --resource pgsqld --delete-parameter rejoin >/dev/null 2>&1 || true; }
# Runs scenario <base> under a new name with rejoin=rewind: the scenario's own checks, with the
# former primary only powered back on.
with_rewind() { # with_rewind <name> <base>
  local rc=0
  set_rejoin || scn_fail "cannot set rejoin=rewind"
  REJOIN_HOW=poweron SCN_NAME=$1 "scn_${2//-/_}" || rc=1
  [[ -n ${FORMER:-} ]] && log "rewinds recorded on $FORMER so far: $(rejoin_reports "$FORMER" | wc -l)"
  unset_rejoin
  return $rc
}
scn_kill_primary_node_rewind() { with_rewind kill-primary-node-rewind kill-primary-node; }
scn_isolate_primary_rewind() { with_rewind isolate-primary-rewind isolate-primary; }
scn_rejoin_former_primary_rewind() { with_rewind rejoin-former-primary-rewind rejoin-former-primary; }
# The reports the former primary's rewinds wrote (newest last).
rejoin_reports() { ls -d "$STATE/nodes/$1/pgmnt/data-rejoin"/rejoin-* 2>/dev/null | sort | sed 's|$|/report.txt|'; }

# Asynchronous replication and a primary whose WAL stream is cut before it is powered off: it
# acknowledged rows no standby has. After Pacemaker brought it back by itself (rewind), the
# acknowledged rows missing from the new primary must be exactly the transactions its report
# lists (by xid; the report may list one more: a commit in flight, never acknowledged).
scn_rejoin_former_primary_async() {
  set_rejoin || scn_fail "cannot set rejoin=rewind"
  scn_begin rejoin-former-primary-async || true
  local p n before report lost listed extra t0
  p=$(promoted_node)
  before=$(rejoin_reports "$p" | wc -l)
  npsql "$p" -c "ALTER SYSTEM SET synchronous_standby_names = ''" -c "SELECT pg_reload_conf()" >/dev/null ||
    scn_fail "cannot make replication asynchronous"
  for n in $(others_of "$p"); do block_wal_to "$p" "$n"; done
  log "replication asynchronous, WAL stream from $p cut: it acknowledges rows no standby gets"
  sleep 3
  SCN_LOSS_ACCEPTED=1
  if primary_loss poweroff; then
    unblock_wal "$p"
    t0=$(now)
    rejoin_node "$FORMER" poweron || scn_fail "$FORMER did not rejoin"
    wait_for "$HEALTH_TIMEOUT" "healthy cluster" cluster_healthy || true
    # benches/rejoin.sh reads this line
    log "former primary $FORMER rejoined as a standby ($(awk -v a="$(now)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s, rewound)"
    report=$(rejoin_reports "$FORMER" | tail -1)
    if (($(rejoin_reports "$FORMER" | wc -l) <= before)) || [[ ! -s $report ]]; then
      scn_fail "no rejoin report written on $FORMER"
    else
      cp "$report" "$RUN/report.txt"
      awk '$4=="ok"{print $3, $5}' "$RUN/writes" | sort >"$RUN/acked-xids"
      cpsql "$VIP" -c "SELECT id FROM writes WHERE scn = '$TAG'" | sort >"$RUN/present-now"
      join -v1 "$RUN/acked-xids" "$RUN/present-now" | awk '{print $2}' | sort -u >"$RUN/lost-xids"
      sed -n 's/^commit: xid \([0-9]*\) .*/\1/p' "$report" | sort -u >"$RUN/listed-xids"
      lost=$(wc -l <"$RUN/lost-xids"); listed=$(wc -l <"$RUN/listed-xids")
      extra=$(comm -13 "$RUN/lost-xids" "$RUN/listed-xids" | wc -l)
      log "acknowledged rows missing on the new primary: $lost; transactions in the report: $listed"
      ((lost > 0)) || scn_fail "no acknowledged row was lost: the scenario did not diverge"
      comm -23 "$RUN/lost-xids" "$RUN/listed-xids" | grep -q . &&
        scn_fail "acknowledged rows lost but not in the report: $(comm -23 "$RUN/lost-xids" "$RUN/listed-xids" | head -5 | paste -sd' ')"
      ((extra <= 1)) || scn_fail "$extra transactions in the report were never acknowledged"
    fi
    [[ $(unpromoted_nodes) == *"$FORMER"* ]] || scn_fail "$FORMER is not an unpromoted instance"
  fi
  for n in $(all_nodes); do
    npsql "$n" -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
  done
  scn_end
  local rc=$?
  unset_rejoin
  return $rc
}

# A standby that is behind must not be promoted when a more advanced one exists. On the primary,
# policy routing drops what the primary sends from the VIP to one standby (its WAL stream;
# Corosync uses the node addresses and is not affected): that standby stops receiving WAL while
# the other one (synchronous, ANY 1) keeps acknowledging commits. Then the primary is killed and
# the advanced standby must win.
block_wal_to() { # block_wal_to <primary> <standby>
  ip -n "$(node_ns "$1")" rule add from "$VIP" to "$(node_ip "$2")" table 100 prio 100
  ip -n "$(node_ns "$1")" route replace blackhole default table 100
}
unblock_wal() {
  unblock_route "$1"
  tc -n "$(node_ns "$1")" qdisc del dev eth0 root 2>/dev/null || true
}
unblock_route() { # what block_wal_to and block_wal_of did, not a throttle
  while ip -n "$(node_ns "$1")" rule del prio 100 2>/dev/null; do :; done
  ip -n "$(node_ns "$1")" route flush table 100 2>/dev/null || true
}
# Slow down, on the primary, what it sends from the VIP to one standby (its WAL stream) to
# <rate> (tc htb; Corosync, between node addresses, keeps full speed). unblock_wal undoes it.
throttle_wal_to() { # throttle_wal_to <primary> <standby> <rate>
  local ns
  ns=$(node_ns "$1")
  tc -n "$ns" qdisc replace dev eth0 root handle 1: htb default 10 r2q 1000 &&
    tc -n "$ns" class add dev eth0 parent 1: classid 1:10 htb rate 10gbit &&
    tc -n "$ns" class add dev eth0 parent 1: classid 1:20 htb rate "$3" ceil "$3" &&
    tc -n "$ns" filter add dev eth0 parent 1: protocol ip prio 1 u32 \
      match ip src "$VIP/32" match ip dst "$(node_ip "$2")/32" flowid 1:20
}

scn_lagging_standby() {
  scn_begin lagging-standby || true
  local p lag adv lsn_lag lsn_adv
  p=$(promoted_node)
  read -r lag adv < <(unpromoted_nodes | paste -sd' ')
  log "cutting the WAL stream from $p to $lag; $adv keeps up"
  block_wal_to "$p" "$lag"
  sleep 4
  lsn_lag=$(received_lsn "$lag"); lsn_adv=$(received_lsn "$adv")
  log "received LSN: $lag=$lsn_lag $adv=$lsn_adv"
  ((${lsn_lag:-0} < ${lsn_adv:-0})) || scn_fail "$lag is not behind $adv ($lsn_lag >= $lsn_adv)"
  if primary_loss poweroff; then
    [[ $NEWP == "$adv" ]] || scn_fail "the lagging standby $lag was promoted instead of $adv"
  fi
  unblock_wal "$p"
  [[ -n ${FORMER:-} ]] && { rejoin_node "$FORMER" rebuild || scn_fail "$FORMER did not rejoin"; }
  scn_end
}

# ---- a hung or an overloaded primary (issue 11) ----------------------------------------------
# A primary whose processes are stopped (SIGSTOP) accepts no connection and reacts to no
# signal: every action on it must fail at once so that Pacemaker fences the node and promotes
# a standby, with no administrator.
hung_primary() { # hung_primary all|postmaster
  local p nf np pm kids
  p=$(promoted_node); nf=$(fence_count "$p")
  pm=$(head -1 "$(host_pgdata "$p")/postmaster.pid")
  if [[ $1 == all ]]; then
    scn_fault "SIGSTOP of every process of the primary instance on $p"
    # the postmaster first: it forks no child after the listing
    node_exec_t 5 "$p" kill -STOP "$pm" || scn_fail "SIGSTOP failed"
    kids=$(node_exec_t 5 "$p" pgrep -P "$pm" | paste -sd' ')
    # shellcheck disable=SC2086
    node_exec_t 5 "$p" kill -STOP $kids || scn_fail "SIGSTOP of the children failed"
    log "stopped postmaster $pm and its children $kids"
  else
    scn_fault "SIGSTOP of the postmaster of $p (pid $pm in the node)"
    node_exec_t 5 "$p" kill -STOP "$pm" || scn_fail "SIGSTOP failed"
  fi
  # PAF waits out its notify, demote and stop timeouts (60 s + 120 s + 60 s) before the
  # node is fenced
  wait_fenced "$p" "$nf" 300 || true
  np=$(wait_new_primary "$p") || { scn_fail "no new primary"; return 1; }
  log "new primary: $np"
  # Our agent's failed actions on the hung node say why (the PAF agent has no such reason).
  if [[ $AGENT == ocf:rust:pgsqlms ]]; then
    grep -h 'hung: ' "$(ndir "$p")/var-log/pacemaker/pacemaker.log" | tail -3 >"$RUN/hung-reasons" || true
    [[ -s $RUN/hung-reasons ]] || scn_fail "no 'hung:' exit reason in $p's pacemaker.log"
  fi
  FORMER=$p NEWP=$np
}

scn_hung_primary() {
  scn_begin hung-primary || true
  hung_primary all && { rejoin_node "$FORMER" rebuild || scn_fail "$FORMER did not rejoin"; }
  scn_end
}

scn_hung_postmaster() {
  scn_begin hung-postmaster || true
  hung_primary postmaster && { rejoin_node "$FORMER" rebuild || scn_fail "$FORMER did not rejoin"; }
  scn_end
}

OVERLOAD_S=${OVERLOAD_S:-60}
# No failover of a primary that is slow but alive: every regular connection slot taken by a
# non-superuser role and a CPU and disk load on its node for OVERLOAD_S seconds. The primary
# keeps its role and its postmaster, nothing fails, writes go on being acknowledged.
scn_overloaded_primary() {
  scn_begin overloaded-primary || true
  local p pm nf t0 gap failures refused
  p=$(promoted_node); nf=$(fence_count "$p")
  pm=$(head -1 "$(host_pgdata "$p")/postmaster.pid")
  cpsql "$VIP" -c "DO \$\$BEGIN CREATE ROLE filler LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END\$\$" >/dev/null ||
    scn_fail "cannot create the role filler"
  scn_fault "every regular connection slot of $p taken by role filler, CPU and disk load on $p for ${OVERLOAD_S}s"
  t0=$(now)
  bg_start overload timeout -k 2 $((OVERLOAD_S + 20)) nsenter -t "$(init_pid "$p")" -m -u -i -n -p -- \
    "$HDIR/overload.sh" "$OVERLOAD_S" 40 "$PGBIN/psql" "$PGMOUNT"
  sleep 5
  # the fault is real: one more non-superuser session is turned away
  refused=$(node_exec_t 10 "$p" runuser -u postgres -- "$PGBIN/psql" -h /run/postgresql -U filler -d postgres -XAtqc "SELECT 1" 2>&1 || true)
  log "another filler session: $refused"
  [[ $refused == *reserved* || $refused == *"too many clients"* ]] || scn_fail "regular slots not all taken: $refused"
  sleep $((OVERLOAD_S - 5))
  bg_stop overload
  sleep 5
  [[ $(promoted_node) == "$p" ]] || scn_fail "the primary moved from $p to [$(promoted_node)]"
  [[ $(head -1 "$(host_pgdata "$p")/postmaster.pid" 2>/dev/null) == "$pm" ]] ||
    scn_fail "the postmaster of $p changed: it was restarted or demoted"
  fenced_since "$p" "$nf" && scn_fail "$p was fenced"
  failures=$(mon_xml | xq "count(//failures/failure)")
  [[ $failures == 0 ]] || scn_fail "$failures failed actions: $(mon_xml | xq '//failures/failure/@exitreason' | head -3 | paste -sd' ')"
  # writes went on: the longest time without an acknowledged write under the load
  gap=$(awk -v t="$t0" '$4=="ok" && $2>=t {print $2}' "$RUN/writes" | sort -n |
    awk -v t="$t0" 'BEGIN{p=t; m=0} {if ($1-p>m) m=$1-p; p=$1} END{printf "%.1f", m}')
  log "longest time without an acknowledged write under the load: $gap s"
  awk -v g="$gap" 'BEGIN{exit !(g < 10)}' || scn_fail "no write acknowledged for $gap s under the load"
  scn_end
}

# ---- managed synchronous replication (issue 13) --------------------------------------------
# No fault: 20 s of writes through the VIP, for the write latency (benches/sync_latency.sh).
scn_sync_steady() {
  scn_begin sync-steady || true
  sleep 20
  scn_end
}

# Both standbys' PostgreSQL killed while their nodes stay up. With the static ANY 1 (SYNC_MODE
# off, or PAF) or strict, commits wait until Pacemaker has restarted a standby; with on, the
# primary's next monitor empties synchronous_standby_names and writes resume by themselves
# (target: within two monitor intervals of the primary, 2 x 5 s here; 15 s checked).
kill_standby_postmasters() {
  local s pid
  for s in $(unpromoted_nodes); do
    pid=$(head -1 "$(host_pgdata "$s")/postmaster.pid")
    node_exec_t 5 "$s" kill -9 "$pid" || scn_fail "kill -9 on $s failed"
  done
}
scn_sync_standbys_down() {
  scn_begin sync-standbys-down || true
  local p
  p=$(promoted_node)
  scn_fault "kill -9 of both standbys' postmasters (sync_mode=$(agent_sync_mode)), nodes up"
  kill_standby_postmasters
  sleep 2
  log "synchronous_standby_names on $p: '$(npsql "$p" -c 'SHOW synchronous_standby_names' 2>&1)'"
  if [[ $(agent_sync_mode) == on ]]; then
    # the first write acknowledged after the fault, by the same primary
    wait_for 15 "a write acknowledged with both standbys down" \
      awk -v t="$FAULT_T" '$4=="ok" && $1>=t+0.5 {f=1} END{exit !f}' "$RUN/writes" ||
      scn_fail "writes did not resume within 15 s with sync_mode=on"
  fi
  scn_end
}

# Our agent's sync_mode on the resource (a reload: the agent reads it at every action).
set_sync_mode() { crm_exec crm_resource --resource pgsqld --set-parameter sync_mode --parameter-value "$1" >/dev/null; }

# The same fault with sync_mode=strict (PAF: its static ANY 1, the same promise): no commit is
# acknowledged from the fault until a restarted standby streams again (the primary's log:
# "is now a candidate"; a stop of a crashed standby by the agent may stream a moment too);
# then writes resume.
first_candidate_since() { # <primary> <epoch>: epoch of its first "is now a candidate" line after it
  local d t e
  while read -r d t _; do
    e=$(date -u -d "$d $t" +%s.%N) || continue
    awk -v a="$e" -v b="$2" 'BEGIN{exit !(a > b)}' && { echo "$e"; return 0; }
  done < <(grep -h 'is now a candidate for quorum synchronous standby' "$(ndir "$1")/var-log/postgresql/postgresql.log")
  return 1
}
scn_sync_standbys_down_strict() {
  local strict="" rc=0
  if [[ $(agent_sync_mode) != off ]]; then
    set_sync_mode strict && strict=1 || log "cannot set sync_mode=strict"
  fi
  scn_begin sync-standbys-down-strict || true
  [[ $(agent_sync_mode) == off || -n $strict ]] || scn_fail "cannot set sync_mode=strict"
  local p back acks waited
  p=$(promoted_node)
  log "synchronous_standby_names on $p: '$(npsql "$p" -c 'SHOW synchronous_standby_names' 2>&1)'"
  scn_fault "kill -9 of both standbys' postmasters (sync_mode strict), nodes up"
  kill_standby_postmasters
  if back=$(wait_for 120 "a standby streaming from $p again" first_candidate_since "$p" "$FAULT_T" && first_candidate_since "$p" "$FAULT_T"); then
    waited=$(awk -v a="$back" -v b="$FAULT_T" 'BEGIN{printf "%.1f", a-b}')
    acks=$(awk -v a="$FAULT_T" -v b="$back" '$4=="ok" && $2>=a+1 && $2<b' "$RUN/writes" | wc -l)
    log "first standby streaming from $p again $waited s after the fault; writes acknowledged before: $acks"
    ((acks == 0)) || scn_fail "$acks writes acknowledged while no standby streamed (sync_mode strict)"
    # at least a second of writes checked past the first second after the fault (a crashed
    # standby is restarted by its next monitor, 0-6 s later: 2.7 s was seen)
    awk -v w="$waited" 'BEGIN{exit !(w >= 2)}' || scn_fail "a standby streamed again within $waited s: nothing was checked"
  else
    scn_fail "no standby streams from $p again"
  fi
  scn_end || rc=1
  if [[ -n $strict ]]; then
    set_sync_mode "$SYNC_MODE" || { log "cannot restore sync_mode=$SYNC_MODE"; rc=1; }
  fi
  return $rc
}

# A standby that came back and is still catching up (its walsender in state catchup: not a
# member) must not be promoted when the primary is lost right then. It is killed, removed
# from the synchronous set, WAL is written while it is down, and its stream is throttled so
# that its catch-up lasts minutes; the primary is powered off as soon as it reconnects.
SYNC_FILLER_ROWS=${SYNC_FILLER_ROWS:-60000}
walsender_state() { npsql "$1" -c "SELECT state FROM pg_stat_replication WHERE application_name = '$2'" 2>/dev/null; }
walsender_is() { [[ $(walsender_state "$1" "$2") == "$3" ]]; } # <primary> <standby> <state>
scn_sync_not_caught_up() {
  scn_begin sync-not-caught-up || true
  local p lag adv pid nf
  p=$(promoted_node)
  read -r lag adv < <(unpromoted_nodes | paste -sd' ')
  # cut first (it must not reconnect before the filler), throttled once it may reconnect
  block_wal_to "$p" "$lag"
  throttle_wal_to "$p" "$lag" 2mbit || scn_fail "cannot throttle the WAL stream from $p to $lag"
  pid=$(head -1 "$(host_pgdata "$lag")/postmaster.pid")
  log "kill -9 of $lag's postmaster, its WAL stream cut; $adv keeps up"
  node_exec_t 5 "$lag" kill -9 "$pid" || scn_fail "kill -9 on $lag failed"
  if [[ $(agent_sync_mode) != off ]]; then
    wait_for 40 "$lag out of the synchronous record" sync_recorded "$adv" || scn_fail "$lag still recorded: $(sync_record)"
  fi
  npsql "$p" -c "CREATE TABLE IF NOT EXISTS filler (x text); INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, $SYNC_FILLER_ROWS)" >/dev/null ||
    scn_fail "cannot write filler WAL"
  unblock_route "$p"
  log "filler WAL written on $p while $lag was down; its stream now throttled to 2 Mbit/s"
  wait_for 90 "$lag reconnected to $p, catching up" walsender_is "$p" "$lag" catchup ||
    scn_fail "$lag did not reconnect in state catchup: [$(walsender_state "$p" "$lag")]"
  log "$lag: walsender $(walsender_state "$p" "$lag"), received $(received_lsn "$lag"); $adv received $(received_lsn "$adv"); record $(sync_record); promotion scores $lag=$(promotion_score "$lag") $adv=$(promotion_score "$adv")"
  nf=$(fence_count "$p")
  scn_fault "power off of primary $p while $lag, back, catches up"
  node_poweroff "$p"
  unblock_wal "$p"
  rejoin_after_primary_loss "$p" "$nf" 120 "$adv"
  [[ -z ${NEWP:-} ]] || log "$lag from $NEWP: [$(walsender_state "$NEWP" "$lag")]"
  scn_end
}

# A commit acknowledged while a member is being removed survives the loss of the primary
# right after: one member's PostgreSQL killed (its WAL stream cut, so that it stays out until
# the primary's monitor removes it), and the primary powered off as soon as its
# synchronous_standby_names changes (the removal applied, the record maybe not yet narrowed).
scn_sync_removal_commit() {
  scn_begin sync-removal-commit || true
  local p gone keep pid before v="" nf end
  p=$(promoted_node)
  read -r gone keep < <(unpromoted_nodes | paste -sd' ')
  before=$(npsql "$p" -c 'SHOW synchronous_standby_names')
  pid=$(head -1 "$(host_pgdata "$gone")/postmaster.pid")
  nf=$(fence_count "$p")
  block_wal_to "$p" "$gone"
  scn_fault "kill -9 of $gone's postmaster, its WAL stream cut; $p powered off once synchronous_standby_names changes"
  node_exec_t 5 "$gone" kill -9 "$pid" || scn_fail "kill -9 on $gone failed"
  end=$((SECONDS + 40))
  while ((SECONDS < end)); do
    v=$(npsql "$p" -c 'SHOW synchronous_standby_names' 2>/dev/null) || continue
    [[ $v == "$before" ]] || break
  done
  node_poweroff "$p"
  unblock_wal "$p"
  log "$p powered off: synchronous_standby_names '$before' -> '$v'; record $(sync_record)"
  [[ $v != "$before" ]] || [[ $(agent_sync_mode) == off ]] || scn_fail "synchronous_standby_names did not change within 40 s"
  rejoin_after_primary_loss "$p" "$nf" 120 "$keep"
  scn_end
}

# ---- headless: the primary lost before its monitor saw the standbys (issue 9) ---------------
clone_stopped() {
  local x
  x=$(mon_xml) || return 1
  [[ $(xq "count(//clone[@id='$CLONE']/resource[@active='true'])" <<<"$x") == 0 ]]
}
# The database cluster as after a cluster boot: every instance stopped and the transient
# promotion scores gone. start_clone then starts it; the cleanly stopped primary is elected.
stop_clone_cold() {
  local n
  crm_exec crm_resource --resource "$CLONE" --meta --set-parameter target-role --parameter-value Stopped >/dev/null 2>&1 || return 1
  sleep 1
  wait_for 120 "every instance stopped" clone_stopped || return 1
  for n in $(all_nodes); do
    crm_exec crm_attribute --promotion=pgsqld --lifetime reboot --node "$n" --delete >/dev/null 2>&1 || true
  done
}
start_clone() { crm_exec crm_resource --resource "$CLONE" --meta --delete-parameter target-role >/dev/null 2>&1; }
# Tight waits (0.2 s), for faults that must land within a second of an event.
wait_first_write_since() { # <epoch>: first write acknowledged after it
  local t=$1 end=$((SECONDS + 120))
  while ((SECONDS < end)); do
    awk -v t="$t" '$4=="ok" && $1>=t {f=1} END{exit !f}' "$RUN/writes" && return 0
    sleep 0.2
  done
  return 1
}
wait_promoted_is() { # <node> [<seconds>]
  local end=$((SECONDS + ${2:-90}))
  while ((SECONDS < end)); do
    [[ $(promoted_node 2>/dev/null) == "$1" ]] && return 0
    sleep 0.2
  done
  return 1
}
headless_status() { crm_exec attrd_updater --query --name headless-pgsqld --node "$1" 2>/dev/null | sed -n 's/.*value="\(.*\)"$/\1/p'; }
# Drop, in <standby>'s namespace, what it sends to the VIP: it replicates from no primary,
# whichever node holds the VIP (Corosync uses the node addresses). unblock_wal undoes it.
block_wal_of() {
  ip -n "$(node_ns "$1")" rule add to "$VIP" table 100 prio 100
  ip -n "$(node_ns "$1")" route add blackhole default table 100
}

scn_headless_after_start() {
  scn_begin headless-after-start || true
  local p t0 nf
  log "start-up: every instance stopped, promotion scores forgotten (as after a cluster boot), started again"
  stop_clone_cold || scn_fail "cannot stop $CLONE"
  t0=$(now)
  start_clone || scn_fail "cannot start $CLONE"
  wait_first_write_since "$t0" || scn_fail "no write after the start-up"
  p=$(promoted_node); nf=$(fence_count "$p")
  scn_fault "power off of primary $p right after its first write since the start-up"
  node_poweroff "$p"
  log "promotion scores then: $(for n in $(others_of "$p"); do printf '%s=%s ' "$n" "$(promotion_score "$n" || echo none)"; done)"
  rejoin_after_primary_loss "$p" "$nf" 150
  scn_end
}

scn_headless_after_switchover() {
  scn_begin headless-after-switchover || true
  local p t nf
  p=$(promoted_node); t=$(unpromoted_nodes | head -1)
  log "switchover from $p to $t"
  crm_exec crm_resource --move --promoted --resource "$CLONE" --node "$t" >"$RUN/move.log" 2>&1 || scn_fail "move failed"
  wait_promoted_is "$t" || scn_fail "$t not promoted after the move"
  nf=$(fence_count "$t")
  scn_fault "power off of the new primary $t right after the switchover"
  node_poweroff "$t"
  crm_exec crm_resource --clear --resource "$CLONE" >>"$RUN/move.log" 2>&1 || scn_fail "clear failed"
  rejoin_after_primary_loss "$t" "$nf" 150
  scn_end
}

# The primary is lost, then the new primary within a second: the survivor has no quorum. The
# first node comes back with its old data (start refuses a crashed primary), quorum returns,
# and the survivor must be promoted.
scn_headless_double_failover() {
  scn_begin headless-double-failover || true
  local p np s
  p=$(promoted_node)
  scn_fault "power off of primary $p"
  node_poweroff "$p"
  if np=$(wait_new_primary "$p" 150); then
    s=$(others_of "$p" | grep -vx "$np")
    log "new primary $np: powered off at once; $s is left alone without quorum"
    node_poweroff "$np"
    sleep 5
    log "$p powered on again with its old data (a crashed primary): quorum returns"
    node_boot "$p"
    if wait_promoted_is "$s" 150; then
      log "survivor $s promoted"
    else
      scn_fail "survivor $s not promoted"
    fi
    rejoin_node "$p" rebuild || scn_fail "$p did not rejoin"
    # (the cleanup of the rejoined node re-probes it: crm_mon may show no primary a moment)
    wait_for 60 "a promoted node" has_primary || true
    rejoin_node "$np" rebuild || scn_fail "$np did not rejoin"
  else
    scn_fail "no new primary after the loss of $p"
  fi
  scn_end
}

# maxlag set: one standby cut from the WAL stream until beyond maxlag. After a start-up, the
# primary is lost at once: the recovery must choose the advanced standby. Then that new
# primary is lost too, and the first node comes back with its old data (refused) so that
# quorum returns with only the lagging standby: nothing is promoted, and the reason is shown.
# Finally the administrator accepts the loss (maxlag removed): the lagging standby is promoted.
HEADLESS_MAXLAG=${HEADLESS_MAXLAG:-1048576}
scn_headless_maxlag() {
  scn_begin headless-maxlag || true
  local p lag adv t0 np rec
  # (maxlag is not unique: a reload, nothing restarts; the wait is for the next monitors)
  crm_exec crm_resource --resource pgsqld --set-parameter maxlag --parameter-value "$HEADLESS_MAXLAG" >/dev/null 2>&1 ||
    scn_fail "cannot set maxlag"
  sleep 2
  wait_for "$HEALTH_TIMEOUT" "healthy cluster with maxlag set" cluster_healthy || scn_fail "not healthy with maxlag set"
  p=$(promoted_node)
  read -r lag adv < <(unpromoted_nodes | paste -sd' ')
  log "maxlag=$HEADLESS_MAXLAG; cutting the WAL stream from $p to $lag; $adv keeps up"
  block_wal_to "$p" "$lag"
  npsql "$p" -c "CREATE TABLE IF NOT EXISTS filler (x text); INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 4000)" >/dev/null ||
    scn_fail "cannot write filler WAL"
  wait_for 30 "$lag beyond maxlag" lag_recorded "$lag" || scn_fail "$p did not record $lag beyond maxlag"
  rec=$(crm_exec attrd_updater --query --name beyond_maxlag-pgsqld --node "$lag" 2>/dev/null | sed -n 's/.*value="\(.*\)"$/\1/p')
  log "$lag beyond maxlag: score $(promotion_score "$lag"), primary position recorded $rec; received: $lag=$(received_lsn "$lag") $adv=$(received_lsn "$adv")"
  block_wal_of "$lag"
  stop_clone_cold || scn_fail "cannot stop $CLONE"
  t0=$(now)
  start_clone || scn_fail "cannot start $CLONE"
  wait_first_write_since "$t0" || scn_fail "no write after the start-up"
  p=$(promoted_node)
  [[ $p != "$lag" ]] || scn_fail "the lagging standby $lag was elected at the start-up"
  adv=$(others_of "$p" | grep -vx "$lag")
  scn_fault "power off of primary $p right after its first write since the start-up; $adv is the advanced standby"
  node_poweroff "$p"
  if np=$(wait_new_primary "$p" 150); then
    [[ $np == "$adv" ]] || scn_fail "the lagging standby $np was promoted instead of $adv"
    log "$np promoted; $lag said: $(headless_status "$lag")"
    # (commits wait there: synchronous_standby_names names the lost primary and $lag)
    sleep 2
    log "$np powered off too; $p comes back with its old data (refused), so quorum returns with $lag only"
    node_poweroff "$np"
    sleep 3
    node_boot "$p"
    wait_for 120 "$lag declining with a reason" declines "$lag" ||
      scn_fail "$lag shows no reason for not being promoted"
    log "$lag: $(headless_status "$lag")"
    crm_exec crm_mon -1 -A >"$RUN/crm_mon-declined" 2>&1 || true
    sleep 10
    [[ -z $(promoted_node) ]] || scn_fail "$(promoted_node) promoted although only $lag, beyond maxlag, was left"
    SCN_LOSS_ACCEPTED=1
    # (with managed synchronous replication the proof cannot hold without the lost nodes:
    # accepting the loss is sync_mode=off too, as the agent's remedy and the README say)
    if [[ $(agent_sync_mode) != off ]]; then
      log "administrator: accepts the loss, removes maxlag and sets sync_mode=off"
      set_sync_mode off || scn_fail "cannot set sync_mode=off"
    else
      log "administrator: accepts the loss, removes maxlag"
    fi
    crm_exec crm_resource --resource pgsqld --delete-parameter maxlag >/dev/null 2>&1 || scn_fail "cannot remove maxlag"
    unblock_wal "$lag"
    wait_promoted_is "$lag" 120 || scn_fail "$lag not promoted once the loss was accepted"
    rejoin_node "$p" rebuild || scn_fail "$p did not rejoin"
    wait_for 60 "a promoted node" has_primary || true
    rejoin_node "$np" rebuild || scn_fail "$np did not rejoin"
  else
    scn_fail "no new primary: the cluster stayed headless"
  fi
  crm_exec crm_resource --resource pgsqld --delete-parameter maxlag >/dev/null 2>&1 || true
  # the administrator turns synchronous replication back on once the nodes are back, after
  # deleting the record of the abandoned history (its timeline may be later than the new
  # primary's: the primary would leave it alone)
  if [[ $(agent_sync_mode) != off ]]; then
    crm_exec crm_attribute --type crm_config --name pgsqlms-sync-pgsqld --delete >/dev/null 2>&1 || scn_fail "cannot delete the synchronous record"
    set_sync_mode "$SYNC_MODE" || scn_fail "cannot restore sync_mode=$SYNC_MODE"
  fi
  scn_end
}
declines() { headless_status "$1" | grep -q 'none promoted'; }
lag_recorded() { [[ -n $(crm_exec attrd_updater --query --name beyond_maxlag-pgsqld --node "$1" 2>/dev/null | sed -n 's/.*value="\(.*\)"$/\1/p') ]]; }

run_scenarios() {
  local s rc=0 f n
  mkdir -p "$STATE/results" "$STATE/bg"
  : >"$STATE/results/summary"
  (($#)) || set -- "${SCENARIOS[@]}"
  for s in "$@"; do
    f=scn_${s//-/_}
    declare -F "$f" >/dev/null || die "unknown scenario $s (see: $0 list)"
  done
  for s in "$@"; do
    FORMER="" NEWP="" SCN_OUTAGE="" SCN_LOSS_ACCEPTED=""
    "scn_${s//-/_}" || rc=1
    for n in $(all_nodes); do unblock_wal "$n"; done
  done
  echo "==== summary ($AGENT)"
  cat "$STATE/results/summary"
  return $rc
}
