#!/bin/bash
# Polls pg_is_in_recovery() on every node, each through its own network namespace and own
# address (so an isolated node is still seen), and records one line per round:
#   <time> node1=t node2=f node3=-     (t standby, f writable primary, - no answer)
# Usage: poller.sh <outfile> <stopfile> <max-seconds> <psql> <ns-prefix> <node>=<ip>...
set -u
out=$1 stop=$2 max=$3 psql=$4 pfx=$5; shift 5
end=$((SECONDS + max))
export PGCONNECT_TIMEOUT=2 PGAPPNAME=poller
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while [[ ! -e $stop ]] && ((SECONDS < end)); do
  t=$EPOCHREALTIME
  for ni in "$@"; do
    n=${ni%%=*} ip=${ni#*=}
    ( r=$(timeout -k 1 2 ip netns exec "$pfx-$n" "$psql" -h "$ip" -U postgres -d postgres -XAtq \
          -c "SELECT pg_is_in_recovery()" 2>/dev/null)
      echo "${r:--}" >"$tmp/$n" ) &
  done
  wait
  line=$t
  for ni in "$@"; do n=${ni%%=*}; line+=" $n=$(cat "$tmp/$n" 2>/dev/null || echo -)"; done
  echo "$line" >>"$out"
  sleep 0.5
done
