# shellcheck shell=bash
# Cluster state as seen by Pacemaker (crm_mon XML) and by PostgreSQL.

CLONE=${CLONE:-pgsqld-clone}
VIPRSC=${VIPRSC:-pgsql-vip}

mon_xml() { crm_exec crm_mon -1 -r --output-as=xml 2>/dev/null; }
xq() { xmllint --xpath "$1" - 2>/dev/null; }

nodes_online_all() {
  local x
  x=$(mon_xml) || return 1
  [[ $(xq "count(//nodes/node[@online='true'])" <<<"$x") == "$NODES_N" ]] &&
    [[ $(xq "string(//current_dc/@with_quorum)" <<<"$x") == true ]]
}
node_online() {
  local x
  x=$(mon_xml) || return 1
  [[ $(xq "string(//nodes/node[@name='$1']/@online)" <<<"$x") == true ]]
}
node_offline_clean() {
  local x
  x=$(mon_xml) || return 1
  [[ $(xq "string(//nodes/node[@name='$1']/@online)" <<<"$x") == false ]] &&
    [[ $(xq "string(//nodes/node[@name='$1']/@unclean)" <<<"$x") == false ]]
}

# Node names holding the clone in a role (Promoted|Unpromoted), one per line.
role_nodes() {
  local x=${2:-}
  [[ -n $x ]] || x=$(mon_xml) || return 1
  xq "//clone[@id='$CLONE']/resource[@role='$1' and @active='true' and @failed='false']/node/@name" <<<"$x" |
    sed -n 's/.*name="\([^"]*\)".*/\1/p' | sort
}
promoted_node() { role_nodes Promoted | head -1; }
unpromoted_nodes() { role_nodes Unpromoted; }

# 1 promoted + N-1 unpromoted instances, VIP on the primary, nothing failed, every standby
# streaming from the primary. Writes the reason of the last negative answer to $STATE/health.
cluster_healthy() {
  local x p u v rep n why=""
  x=$(mon_xml) || { echo "crm_mon failed" >"$STATE/health"; return 1; }
  p=$(role_nodes Promoted "$x"); u=$(role_nodes Unpromoted "$x")
  v=$(xq "//resource[@id='$VIPRSC' and @role='Started' and @failed='false']/node/@name" <<<"$x" | sed -n 's/.*name="\([^"]*\)".*/\1/p')
  if [[ $(xq "count(//nodes/node[@online='true'])" <<<"$x") != "$NODES_N" ]]; then why="not all nodes online"
  elif [[ $(wc -w <<<"$p") != 1 ]]; then why="promoted: [$p]"
  elif [[ $(wc -w <<<"$u") != $((NODES_N - 1)) ]]; then why="unpromoted: [$u]"
  elif [[ $(xq "count(//clone[@id='$CLONE']//resource[@failed='true' or @blocked='true'])" <<<"$x") != 0 ]]; then why="failed instance"
  elif [[ $v != "$p" ]]; then why="VIP on [$v], primary on [$p]"
  elif [[ $(npsql "$p" -c "SELECT pg_is_in_recovery()") != f ]]; then why="$p not writable"
  else
    rep=$(npsql "$p" -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> 'pg_basebackup'")
    if [[ $rep != $((NODES_N - 1)) ]]; then why="$rep standbys streaming from $p"; fi
    for n in $u; do
      [[ $(npsql "$n" -c "SELECT pg_is_in_recovery()") == t ]] || why="$n not a running standby"
    done
    # managed synchronous replication: healthy once every standby is a recorded member
    if [[ -z $why && $(agent_sync_mode) != off ]] && ! sync_recorded "$u"; then
      why="synchronous record not covering [$u]: $(sync_record)"
    fi
  fi
  echo "${why:-healthy}" >"$STATE/health"
  [[ -z $why ]]
}

# The agent's synchronous replication record (timeline:k:members[:since]) in the CIB.
sync_record() {
  crm_exec crm_attribute --type crm_config --name pgsqlms-sync-pgsqld --query --quiet 2>/dev/null
}
# Whether the record names exactly the standbys $1 with k >= 1.
sync_recorded() {
  local r k members want
  r=$(sync_record) || return 1
  k=$(cut -d: -f2 <<<"$r"); members=$(cut -d: -f3 <<<"$r" | tr ',' '\n' | sort | paste -sd' ')
  want=$(tr ' ' '\n' <<<"$1" | grep -v '^$' | sort | paste -sd' ')
  [[ $k =~ ^[0-9]+$ ]] && ((k >= 1)) && [[ $members == "$want" ]]
}

# Received LSN of a standby, as a number (bytes).
received_lsn() { npsql "$1" -c "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::bigint"; }
