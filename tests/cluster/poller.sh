#!/bin/bash
# Watches pg_is_in_recovery() on every node, through each node's own network namespace and own
# address (an isolated node is still seen), with one persistent psql \watch session per node
# (restarted when it fails). Every node's clock is the host's clock, so lines compare exactly:
#   <epoch> <node> t|f      (t standby, f writable primary)
#   <epoch> <node> -        (no session: instance down or unreachable)
# Usage: poller.sh <outfile> <stopfile> <max-seconds> <psql> <ns-prefix> <node>=<ip>...
set -u
out=$1 stop=$2 max=$3 psql=$4 pfx=$5; shift 5
end=$((SECONDS + max))
export PGCONNECT_TIMEOUT=2 PGAPPNAME=poller
watch_node() {
  local n=$1 ip=$2 left
  while [[ ! -e $stop ]] && ((SECONDS < end)); do
    left=$((end - SECONDS))
    echo "SELECT extract(epoch FROM clock_timestamp()), pg_is_in_recovery() \\watch 0.5" |
      timeout -k 1 "$left" ip netns exec "$pfx-$n" "$psql" -h "$ip" -U postgres -d postgres -XAtq -F ' ' 2>/dev/null |
      awk -v n="$n" 'NF == 2 {print $1, n, $2; fflush()}' >>"$out"
    echo "$EPOCHREALTIME $n -" >>"$out"
    sleep 0.5
  done
}
for ni in "$@"; do watch_node "${ni%%=*}" "${ni#*=}" & done
# stop file watcher: end the psql sessions when asked
while [[ ! -e $stop ]] && ((SECONDS < end)); do sleep 0.5; done
kill -- -$$ 2>/dev/null
wait
