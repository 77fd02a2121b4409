#!/bin/bash
# Write latency through the VIP with sync_mode off (node.conf's static ANY 1, as PAF runs)
# and on (the agent manages synchronous_standby_names), in the tests/cluster sandbox. As root,
# from the repository root, with the release build (about 3 minutes per mode):
#
#   benches/sync_latency.sh
#
# Per mode: cluster.sh up, scenario sync-steady (20 s of the harness writer: one psql session
# through the VIP, one INSERT ... RETURNING per transaction), then, with sync_mode on, scenario
# sync-standbys-down and those of SYNC_ON_EXTRA (their outage), cluster.sh down; each under
# the cluster lock. Latency = the
# writer's end - start of each acknowledged write (psql round trip, commit included). Prints a
# markdown section; benches/SYNC.md holds the last one (between sync-latency markers), and
# benches/report.py keeps SYNC.md in benches/RESULTS.md.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${STATE:-/var/tmp/pgsqlms-cluster}
OUT=${SYNC_BENCH_OUT:-/var/tmp/pgsqlms-bench-sync}
mkdir -p "$OUT"
for mode in on off; do
  scenarios=(sync-steady)
  # SYNC_ON_EXTRA: more scenarios to run with sync_mode on (their outage is listed too)
  # shellcheck disable=SC2206
  [[ $mode == on ]] && scenarios+=(sync-standbys-down ${SYNC_ON_EXTRA:-})
  SYNC_MODE=$mode flock /tmp/pgsqlms-cluster.lock bash -c '
    "$1/tests/cluster/cluster.sh" up && "$1/tests/cluster/cluster.sh" scenario "${@:2}"; rc=$?
    "$1/tests/cluster/cluster.sh" down; exit $rc' _ "$REPO" "${scenarios[@]}" >"$OUT/$mode.log" 2>&1 ||
    echo "mode $mode: a scenario failed (see $OUT/$mode.log)" >&2
  cp "$STATE/results/sync-steady/writes" "$OUT/$mode.writes"
  grep -h '^SCENARIO' "$OUT/$mode.log" >"$OUT/$mode.summary" || true
done
python3 - "$OUT" <<'PY'
import statistics, sys
out = sys.argv[1]
print("## Write latency with sync_mode off and on (benches/sync_latency.sh)\n")
print("| sync_mode | writes | median | p99 | max |")
print("|---|---|---|---|---|")
for mode in ("off", "on"):
    lat = sorted((float(l.split()[1]) - float(l.split()[0])) * 1000
                 for l in open(f"{out}/{mode}.writes") if l.split()[3] == "ok")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"| {mode} | {len(lat)} | {statistics.median(lat):.1f} ms | {p99:.1f} ms | {lat[-1]:.1f} ms |")
print()
for mode in ("off", "on"):
    for l in open(f"{out}/{mode}.summary"):
        print(f"- sync_mode={mode}: {l.strip()}")
PY
