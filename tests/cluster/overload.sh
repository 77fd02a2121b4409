#!/bin/bash
# Overload of a primary's node, run inside that node by the overloaded-primary scenario: for
# <seconds>, <clients> sessions of the non-superuser role filler hold every regular connection
# slot (PostgreSQL 15 reserves the others for superusers, such as the agent), two CPU burners
# and a disk writer (fsync'ed, on the file system of PGDATA) compete with the server. The load
# is niced (and the writer in the lowest best-effort I/O class) so that the other nodes'
# Corosync and Pacemaker, on the same 2 CPUs, are not starved: the server itself runs at its
# usual priority and is the one slowed.
# Usage: overload.sh <seconds> <clients> <psql> <scratch-dir>
set -u
secs=$1 clients=$2 psql=$3 dir=$4
for ((i = 0; i < clients; i++)); do
  runuser -u postgres -- "$psql" -h /run/postgresql -U filler -d postgres -XAtqc "SELECT pg_sleep($secs)" >/dev/null 2>&1 &
done
for _ in 1 2; do
  nice -n 10 timeout "$secs" sha256sum /dev/zero >/dev/null &
done
# shellcheck disable=SC2016
ionice -c2 -n7 nice -n 10 timeout "$secs" bash -c \
  'while :; do dd if=/dev/zero of="$0/overload.tmp" bs=1M count=128 conv=fsync status=none; done' "$dir" &
wait
rm -f "$dir/overload.tmp"
