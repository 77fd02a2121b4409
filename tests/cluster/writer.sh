#!/bin/bash
# Continuous writer, run inside the client namespace: inserts (scn, id) rows through the VIP,
# one transaction per row, and records every attempt as "<start> <end> <id> ok|fail".
# A row counts as acknowledged only when psql reported the committed id back.
# Usage: writer.sh <scenario> <vip> <outfile> <stopfile> <max-seconds> <psql>
set -u
scn=$1 vip=$2 out=$3 stop=$4 max=$5 psql=$6
end=$((SECONDS + max)) i=0
export PGCONNECT_TIMEOUT=2 PGAPPNAME=writer
while [[ ! -e $stop ]] && ((SECONDS < end)); do
  i=$((i + 1))
  t0=$EPOCHREALTIME
  r=$(timeout -k 1 3 "$psql" -h "$vip" -U postgres -d postgres -XAtq \
      -c "INSERT INTO writes (scn, id) VALUES ('$scn', $i) RETURNING id" 2>/dev/null)
  t1=$EPOCHREALTIME
  if [[ $r == "$i" ]]; then echo "$t0 $t1 $i ok"; else echo "$t0 $t1 $i fail"; sleep 0.1; fi >>"$out"
  sleep 0.05
done
