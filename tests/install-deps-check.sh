#!/bin/bash
# Checks that .ci/install-deps.sh starts, stops and kills nothing on the host. It runs in a
# private mount namespace with tmpfs over /usr/sbin (where policy-rc.d lives) and over
# /lib/systemd/system, and with recording stand-ins for dpkg-query, apt-get, systemctl, pkill,
# killall and service first on PATH, so nothing is installed and no service is touched. As root.
# Prints one PASS/FAIL line per check; exits non-zero if any failed.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "install-deps-check.sh: must run as root (mount namespace)" >&2; exit 2; }

T=$(mktemp -d /tmp/pgsqlms-install-deps-check.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin"
# Installed: everything except postgresql-15 and pacemaker.
cat >"$T/bin/dpkg-query" <<'EOF'
#!/bin/sh
for p; do :; done
case $p in postgresql-15|pacemaker) exit 1 ;; *) printf 'install ok installed' ;; esac
EOF
# apt-get: records its call and what policy-rc.d says about starting a service during the
# install, then "installs" the two missing daemons' units.
cat >"$T/bin/apt-get" <<'EOF'
#!/bin/sh
echo "apt-get $*" >>"$CALLS"
[ "$1" = install ] || [ "$2" = install ] || [ "$3" = install ] || [ "$4" = install ] || exit 0
if [ -x /usr/sbin/policy-rc.d ]; then
  /usr/sbin/policy-rc.d postgresql start; echo "policy-rc.d during install: $?" >>"$CALLS"
else
  echo "policy-rc.d during install: none" >>"$CALLS"
fi
: >/lib/systemd/system/postgresql.service
: >/lib/systemd/system/pacemaker.service
EOF
for t in systemctl pkill killall service; do
  printf '#!/bin/sh\necho "%s $*" >>"$CALLS"\n' "$t" >"$T/bin/$t"
done
chmod 755 "$T"/bin/*

# run_case <name> <existing policy-rc.d content or empty>: the script in its sandbox; the
# calls go to $T/<name>.calls, the policy-rc.d left afterwards to $T/<name>.policy.
run_case() {
  local name=$1 policy=$2
  : >"$T/$name.calls"
  CALLS=$T/$name.calls PATH=$T/bin:/usr/bin:/bin POLICY=$policy OUT=$T/$name \
    unshare -m --propagation private bash -c '
      mount -t tmpfs tmpfs /usr/sbin && mount -t tmpfs tmpfs /lib/systemd/system || exit 99
      : >/lib/systemd/system/corosync.service     # a daemon the machine already has
      if [ -n "$POLICY" ]; then printf "%s" "$POLICY" >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi
      bash "$0/.ci/install-deps.sh" >"$OUT.out" 2>&1; echo $? >"$OUT.rc"
      cat /usr/sbin/policy-rc.d >"$OUT.policy" 2>/dev/null || echo "(none)" >"$OUT.policy"
    ' "$REPO"
}
passed=0 failed=0
check() {
  local what=$1; shift
  if "$@"; then echo "PASS: $what"; passed=$((passed + 1))
  else echo "FAIL: $what"; failed=$((failed + 1)); fi
}
calls() { grep -v '^apt-get update' "$T/$1.calls"; }

run_case fresh ""
check "install-deps.sh succeeds" grep -qx 0 "$T/fresh.rc"
check "it installs the missing packages only" \
  grep -qx 'apt-get install -y -qq --no-install-recommends postgresql-15 pacemaker' "$T/fresh.calls"
check "services cannot start during the install (policy-rc.d exits 101)" \
  grep -qx 'policy-rc.d during install: 101' "$T/fresh.calls"
check "its policy-rc.d is gone afterwards" grep -qx '(none)' "$T/fresh.policy"
expected_fresh=$'apt-get install -y -qq --no-install-recommends postgresql-15 pacemaker
policy-rc.d during install: 101
systemctl disable --quiet postgresql.service
systemctl disable --quiet pacemaker.service'
check "nothing stopped, started or killed; only the new daemons are not enabled at boot" \
  test "$(calls fresh)" = "$expected_fresh"

admin_policy=$'#!/bin/sh\nexit 0\n'
run_case admin-policy "$admin_policy"
check "an existing policy-rc.d is used and left as it was" \
  test "$(cat "$T/admin-policy.policy")" = "$(printf '%s' "$admin_policy")"
check "with it, still nothing stopped or killed" \
  bash -c '! grep -Eq "^(pkill|killall|service|systemctl (stop|start|restart|kill))" "$1"' _ "$T/admin-policy.calls"

if ((failed)); then
  for f in "$T"/*.calls "$T"/*.out; do echo "--- $f"; cat "$f"; done
fi
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
