# shellcheck shell=bash
# `pgsqlms show` and `pgsqlms history` against what the harness observes (ocf:rust:pgsqlms
# only: PAF has neither). After each scenario, on every live node, `show --json` must name
# the promoted node as primary, the unpromoted ones as streaming standbys, every node on the
# primary's timeline, and status 0 (on one node also as an unprivileged member of
# haclient); `history` must hold a record for the scenario's promotions, the newest
# promoted one won by the current primary; the view and the records must never reach the
# CIB nor abort a transition.

SHOW_BIN=/usr/lib/ocf/resource.d/rust/pgsqlms
SHOW_RSC=${SHOW_RSC:-pgsqld}
show_enabled() { [[ $AGENT == ocf:rust:* ]]; }

# Promote operations the DCs initiated so far (every node's log: the DC may change).
promote_ops() {
  cat "$STATE"/nodes/node*/var-log/pacemaker/pacemaker.log 2>/dev/null | grep -c 'Initiating promote operation' || true
}

# Remembered at scenario start: when, and how many promote operations so far.
show_mark() {
  show_enabled || return 0
  SHOW_T0=$(date +%s) SHOW_OPS0=$(promote_ops)
}

# The primary's timeline, from the WAL file it writes.
primary_timeline() {
  local hex
  hex=$(npsql "$1" -c "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)") || return 1
  echo $((16#$hex))
}

# show --json on <node> agrees with the harness; the reason of a disagreement in $STATE/show-why.
# <as> "haclient": run as an unprivileged member of haclient (nobody with that group).
show_agrees() {
  local n=$1 p=$2 tl=$3 standbys=$4 as=${5:-root} j got run=("$SHOW_BIN")
  [[ $as == haclient ]] && run=(setpriv --reuid=65534 --regid=65534 --groups="$(getent group haclient | cut -d: -f3)" "$SHOW_BIN")
  j=$(node_exec_t 10 "$n" "${run[@]}" show --json) || true
  got=$(jq -r '[.status, .primary // "none"] | join(" ")' <<<"$j" 2>/dev/null)
  if [[ $got != "0 $p" ]]; then
    echo "$n ($as): status/primary [$got], expected [0 $p]: $(jq -c .reasons <<<"$j" 2>/dev/null)" >"$STATE/show-why"
    # what show read, to tell a wrong answer from a node that sees another cluster state
    echo "$j" >"$RUN/show-disagrees-$n.json"
    node_exec_t 10 "$n" crm_mon --one-shot --output-as=xml >"$RUN/show-disagrees-$n.crm_mon.xml" 2>&1 || true
    return 1
  fi
  got=$(jq -r '[.nodes[] | select(.role == "standby" and .postgres == "streaming") | .node] | sort | join(" ")' <<<"$j")
  [[ $got == "$standbys" ]] || { echo "$n: streaming standbys [$got], expected [$standbys]" >"$STATE/show-why"; return 1; }
  got=$(jq -r '[.nodes[] | .timeline] | unique | map(tostring) | join(" ")' <<<"$j")
  [[ $got == "$tl" ]] || { echo "$n: timelines [$got], expected [$tl]" >"$STATE/show-why"; return 1; }
}

show_agrees_everywhere() {
  local p tl standbys n
  p=$(promoted_node); standbys=$(unpromoted_nodes | paste -sd' ')
  tl=$(primary_timeline "$p") || { echo "cannot read the timeline of $p" >"$STATE/show-why"; return 1; }
  for n in $(all_nodes); do
    node_up "$n" || continue
    show_agrees "$n" "$p" "$tl" "$standbys" || return 1
  done
  show_agrees "$(any_up_node)" "$p" "$tl" "$standbys" haclient
}

# The replication view and the promotion records are private attrd attributes: never in the
# CIB, so they can abort no transition (the controller names what aborted one in its log).
# Prints what is wrong, nothing when all is right.
show_attrs_outside_cib() {
  local attrs=(-e "promotions-$SHOW_RSC" -e "replication-$SHOW_RSC")
  # grep reads all its input (no -q): an early exit would fail the pipe under pipefail
  if crm_exec cibadmin --query 2>/dev/null | grep "${attrs[@]}" >/dev/null; then
    echo "the agent's private attributes reached the CIB"
  fi
  if grep -h 'aborted by' "$STATE"/nodes/node*/var-log/pacemaker/pacemaker.log 2>/dev/null | grep "${attrs[@]}" >/dev/null; then
    echo "a transition was aborted by the agent's private attributes"
  fi
}

# Called by scn_end once the cluster is healthy again.
show_check() {
  show_enabled || return 0
  local ops new p winner
  # the new primary's monitor publishes its view within one monitor interval
  if wait_for 30 "pgsqlms show agrees on every node" show_agrees_everywhere; then
    # a disagreement while the view settled is no finding: keep the dumps of a failure only
    rm -f "$RUN"/show-disagrees-*
  else
    scn_fail "pgsqlms show disagrees: $(cat "$STATE/show-why")"
  fi
  local wrong
  wrong=$(show_attrs_outside_cib)
  [[ -z $wrong ]] || scn_fail "$wrong"
  ops=$(($(promote_ops) - ${SHOW_OPS0:-0}))
  new=$(crm_exec "$SHOW_BIN" history --json | jq -c --argjson t "${SHOW_T0:-0}" '[.records[] | select(.at > $t)]')
  log "promote operations: $ops, new promotion records: $(jq -c '[.[] | [.outcome, .winner]]' <<<"$new")"
  if ((ops == 0)); then
    [[ $(jq length <<<"$new") == 0 ]] || scn_fail "promotion records without a promote operation"
  else
    # at least one record per failover; more than the promote operations counted in the
    # nodes' logs is only logged: a rebooted node's log and the second-granular record time
    # make that count approximate
    (($(jq length <<<"$new") >= 1)) ||
      scn_fail "$ops promote operations but no new promotion record"
    (($(jq length <<<"$new") <= ops)) ||
      log "note: $(jq length <<<"$new") new promotion records for $ops promote operations counted"
    p=$(promoted_node)
    winner=$(jq -r '[.[] | select(.outcome == "promoted")][0].winner // "none"' <<<"$new")
    [[ $winner == "$p" ]] || scn_fail "newest promotion record won by [$winner], primary is $p"
  fi
}

# `pgsqlms show` next to `crm_mon -1` in the log.
show_table() {
  show_enabled || return 0
  echo "---- pgsqlms show"
  crm_exec "$SHOW_BIN" show 2>&1 || true
}
