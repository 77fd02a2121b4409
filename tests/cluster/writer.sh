#!/bin/bash
# Continuous writer, run inside the client namespace: inserts (scn, id) rows through the VIP,
# one transaction per row, over one persistent psql session (reconnecting after any failure),
# and records every attempt as "<start> <end> <id> ok|fail <xid>". A row counts as acknowledged
# only when psql printed the committed id back (with the xid of its transaction).
# Usage: writer.sh <scenario-tag> <vip> <outfile> <stopfile> <max-seconds> <psql>
set -u
scn=$1 vip=$2 out=$3 stop=$4 max=$5 psql=$6
end=$((SECONDS + max)) i=0
export PGCONNECT_TIMEOUT=2 PGAPPNAME=writer
pid=""
connect() {
  coproc PSQL { exec "$psql" -h "$vip" -U postgres -d postgres -XAtq 2>/dev/null; }
  pid=$PSQL_PID
}
drop() {
  [[ -n $pid ]] && { kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
  pid=""
}
trap drop EXIT
trap "" PIPE   # psql gone (server shut down): the write fails, we reconnect
while [[ ! -e $stop ]] && ((SECONDS < end)); do
  if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then drop; connect; fi
  i=$((i + 1))
  t0=$EPOCHREALTIME res=fail got=""
  if printf "INSERT INTO writes (scn, id) VALUES ('%s', %d) RETURNING id, txid_current();\n\\\\echo END\n" "$scn" "$i" 2>/dev/null 1>&"${PSQL[1]}"; then
    while read -r -t 3 line <&"${PSQL[0]}"; do
      [[ $line == END ]] && break
      got=$line
    done
    [[ $line == END && ${got%%|*} == "$i" ]] && res=ok
  fi
  t1=$EPOCHREALTIME
  echo "$t0 $t1 $i $res ${got#*|}" >>"$out"
  if [[ $res == fail ]]; then drop; sleep 0.1; fi
  sleep 0.05
done
