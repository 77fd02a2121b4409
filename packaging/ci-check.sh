#!/usr/bin/env bash
# Package checks for CI. Run as root after the release build (static, see .cargo/config.toml):
#
#   cargo build --release
#   packaging/ci-check.sh
#
# Builds the .deb (packaging/build-deb.sh; set PGSQLMS_DEB=path to test a prebuilt one),
# installs it, and checks it against a throw-away PostgreSQL 15 data directory made with
# initdb. Prints one PASS/FAIL line per check and, last, "N passed, M failed"; exits non-zero
# if any check failed. Removes the package at the end only if this script installed it.
#
# Expected validate-all exit codes for the bad configurations (the agent's rule, see
# src/validate.rs: missing on this node = 5 OCF_ERR_INSTALLED, this node's PostgreSQL
# configuration wrong = 2 OCF_ERR_ARGS; PAF used 2 for all four). Override with a
# space-separated list of accepted codes:
#   EXPECT_RC_BAD_USER      system_user does not exist                     (default: 5)
#   EXPECT_RC_BAD_PGDATA    pgdata does not exist                          (default: 5)
#   EXPECT_RC_RECOVERY_TPL  recovery_template file exists                  (default: 2)
#   EXPECT_RC_APP_NAME      primary_conninfo lacks application_name=<node> (default: 2)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT="$(pwd)"

XML="$ROOT/ocf-metadata/pgsqlms.xml"
AGENT=/usr/lib/ocf/resource.d/rust/pgsqlms
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
EXPECT_RC_BAD_USER="${EXPECT_RC_BAD_USER:-5}"
EXPECT_RC_BAD_PGDATA="${EXPECT_RC_BAD_PGDATA:-5}"
EXPECT_RC_RECOVERY_TPL="${EXPECT_RC_RECOVERY_TPL:-2}"
EXPECT_RC_APP_NAME="${EXPECT_RC_APP_NAME:-2}"

pass=0
fail=0
LOG="$(mktemp /tmp/pgsqlms-ci-check.XXXXXX.log)"
WORK=""
installed_by_us=0

ok() { echo "PASS: $*"; pass=$((pass + 1)); }
ko() {
  echo "FAIL: $*"
  fail=$((fail + 1))
  if [ -s "$LOG" ]; then sed 's/^/    | /' "$LOG" | tail -n 40; fi
}
# check "description" command...   (the command's output goes to $LOG, shown on failure)
check() {
  local what="$1"
  shift
  : >"$LOG"
  if "$@" >>"$LOG" 2>&1; then ok "$what"; else ko "$what"; fi
}

cleanup() {
  [ -n "$WORK" ] && rm -rf "$WORK"
  rm -f "$LOG"
  if [ "$installed_by_us" = 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq pgsqlms >/dev/null 2>&1 ||
      echo "warning: could not remove the pgsqlms package" >&2
  fi
}
trap cleanup EXIT

strip_ws() { tr -d ' \t\r\n'; }
param_names() { xmllint --xpath '//parameters/parameter/@name' "$XML" 2>/dev/null | sed 's/ name="\([^"]*\)"/\1\n/g' | sed '/^$/d'; }
param_default() { xmllint --xpath "string(//parameters/parameter[@name='$1']/content/@default)" "$XML" 2>/dev/null; }

# ------------------------------------------------------------------ build and inspect the .deb
deb="${PGSQLMS_DEB:-}"
if [ -z "$deb" ]; then
  : >"$LOG"
  if packaging/build-deb.sh >"$LOG.out" 2>>"$LOG"; then
    deb="$(tail -n 1 "$LOG.out")"
    ok "build .deb ($deb)"
  else
    cat "$LOG.out" >>"$LOG"
    ko "build .deb (packaging/build-deb.sh)"
  fi
  rm -f "$LOG.out"
fi
if [ -z "$deb" ] || [ ! -f "$deb" ]; then
  echo "FAIL: no .deb to test, stopping"
  fail=$((fail + 1))
  echo "$pass passed, $fail failed"
  exit 1
fi
deb="$(readlink -f "$deb")"

deb_contents() {
  local listing
  listing="$(dpkg-deb -c "$deb")" || return 1
  echo "$listing"
  grep -Eq '^-rwxr-xr-x (root/root|0/0) .* \./usr/lib/ocf/resource\.d/rust/pgsqlms$' <<<"$listing" &&
    grep -Eq '^-rw-r--r-- (root/root|0/0) .* \./usr/share/pgsqlms/pgsqlms\.xml$' <<<"$listing" &&
    grep -Eq '^-rw-r--r-- (root/root|0/0) .* \./usr/share/man/man7/pgsqlms\.7\.gz$' <<<"$listing" &&
    grep -Eq '\./usr/share/doc/pgsqlms/copyright$' <<<"$listing"
}
check ".deb holds the agent (0755), meta-data, man page and docs" deb_contents

deb_control() {
  local dep
  dep="$(dpkg-deb -f "$deb" Depends)" || return 1
  echo "Depends: $dep"
  grep -qw resource-agents <<<"$dep" &&
    grep -qw pacemaker-cli-utils <<<"$dep" &&
    ! grep -qi postgresql <<<"$dep"
}
check ".deb Depends: resource-agents, pacemaker-cli-utils, no PostgreSQL" deb_control

deb_static() {
  local tmp rc
  tmp="$(mktemp -d)"
  dpkg-deb -x "$deb" "$tmp" || { rm -rf "$tmp"; return 1; }
  local out
  out="$(ldd "$tmp/usr/lib/ocf/resource.d/rust/pgsqlms" 2>&1)"
  echo "ldd: $out"
  grep -Eq 'not a dynamic executable|statically linked' <<<"$out"
  rc=$?
  [ "$(head -c 4 "$tmp/usr/lib/ocf/resource.d/rust/pgsqlms" | od -An -c | tr -d ' ')" = '177ELF' ] || rc=1
  rm -rf "$tmp"
  return $rc
}
check "packaged agent is a static ELF executable" deb_static

rpm_spec() {
  local v cv req
  command -v rpmspec >/dev/null || { echo "rpmspec is missing (apt-get install rpm)"; return 1; }
  v="$(rpmspec -q --qf '%{VERSION}\n' packaging/rpm/pgsqlms.spec)" || return 1
  req="$(rpmspec -q --requires packaging/rpm/pgsqlms.spec)" || return 1
  cv="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
  echo "spec Version $v, Cargo.toml version $cv; Requires: $req"
  [ "$v" = "$cv" ] && grep -qx resource-agents <<<"$req" && grep -qx pacemaker-cli <<<"$req"
}
check "RPM spec parses (rpmspec), its Version is Cargo.toml's, Requires resource-agents and pacemaker-cli" rpm_spec

# ------------------------------------------------------------------ install
if [ "$(dpkg-query -W -f '${Status}' pgsqlms 2>/dev/null)" = "install ok installed" ]; then
  already=1
else
  already=0
fi
: >"$LOG"
# No recommends: pacemaker would be installed and started on the host if it were missing.
if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >>"$LOG" 2>&1; then
  [ "$already" = 0 ] && installed_by_us=1
  ok "apt-get install $(basename "$deb")"
else
  ko "apt-get install $(basename "$deb")"
fi

installed_mode() {
  stat -c '%a %U:%G %n' "$AGENT" && [ "$(stat -c '%a %U:%G' "$AGENT")" = "755 root:root" ]
}
check "$AGENT installed, mode 0755 root:root" installed_mode

check "/usr/share/pgsqlms/pgsqlms.xml is ocf-metadata/pgsqlms.xml" cmp /usr/share/pgsqlms/pgsqlms.xml "$XML"

meta_same() {
  local out
  out="$("$AGENT" meta-data)" || { echo "meta-data exited $?"; return 1; }
  [ "$(printf '%s' "$out" | strip_ws)" = "$(strip_ws <"$XML")" ] ||
    { diff <(printf '%s\n' "$out") "$XML"; return 1; }
}
check "pgsqlms meta-data prints ocf-metadata/pgsqlms.xml (modulo whitespace)" meta_same

meta_rng() {
  local rng=/usr/share/resource-agents/metadata.rng f rc
  [ -f "$rng" ] || { echo "$rng missing (resource-agents)"; return 1; }
  f="$(mktemp)"
  "$AGENT" meta-data >"$f" && xmllint --noout --nonet --relaxng "$rng" "$f"
  rc=$?
  rm -f "$f"
  return $rc
}
check "meta-data validates against resource-agents' metadata.rng" meta_rng

list_agents() {
  local out
  out="$(crm_resource --list-agents ocf:rust)" || return 1
  echo "$out"
  grep -qx pgsqlms <<<"$out"
}
check "crm_resource --list-agents ocf:rust lists pgsqlms" list_agents

show_meta() {
  local out
  out="$(crm_resource --show-metadata ocf:rust:pgsqlms)" || return 1
  [ "$(printf '%s' "$out" | strip_ws)" = "$(strip_ws <"$XML")" ] ||
    { diff <(printf '%s\n' "$out") "$XML"; return 1; }
}
check "crm_resource --show-metadata ocf:rust:pgsqlms equals the XML (modulo whitespace)" show_meta

pcs_describe() {
  local out p missing=0
  command -v pcs >/dev/null || { echo "pcs is not installed"; return 1; }
  out="$(timeout 120 pcs resource describe ocf:rust:pgsqlms)" || { echo "$out"; return 1; }
  for p in $(param_names); do
    # (an OCF 1.0 unique parameter shows its unique group: "  pgdata (unique group: ...):")
    grep -Eq "^  $p( \(.*\))?:" <<<"$out" || { echo "parameter $p missing"; missing=1; }
  done
  if [ -z "$(param_names)" ] || [ "$missing" != 0 ]; then
    echo "$out"
    return 1
  fi
}
check "pcs resource describe ocf:rust:pgsqlms lists every parameter" pcs_describe

# ------------------------------------------------------------------ man page
dpkg_lists_man() { local l; l="$(dpkg -L pgsqlms)" && grep -qx /usr/share/man/man7/pgsqlms.7.gz <<<"$l"; }
check "dpkg -L pgsqlms lists the man page" dpkg_lists_man
man_found() { [ "$(man -w 7 pgsqlms)" = /usr/share/man/man7/pgsqlms.7.gz ]; }
check "man -w 7 pgsqlms finds /usr/share/man/man7/pgsqlms.7.gz" man_found

man_renders() {
  local warn text p d missing=0
  warn="$(zcat /usr/share/man/man7/pgsqlms.7.gz | groff -man -Tutf8 -ww -z 2>&1)"
  [ -z "$warn" ] || { echo "groff warnings: $warn"; missing=1; }
  text="$(zcat /usr/share/man/man7/pgsqlms.7.gz | groff -man -Tutf8 -rLL=250n -P-cbou 2>/dev/null)"
  for s in NAME SYNOPSIS DESCRIPTION PARAMETERS ACTIONS EXAMPLES 'SEE ALSO'; do
    grep -q "^$s" <<<"$text" || { echo "section $s missing"; missing=1; }
  done
  for p in $(param_names); do
    d="$(param_default "$p")"
    [ -z "$d" ] && d=empty
    grep -qF "$p (" <<<"$text" || { echo "parameter $p missing"; missing=1; }
    grep -qF "default: $d" <<<"$text" || { echo "default $d of $p missing"; missing=1; }
  done
  [ "$missing" = 0 ]
}
check "man page renders without groff warnings, with every section, parameter and default" man_renders

# ------------------------------------------------------------------ validate-all through crm_resource
node="$(crm_node -n 2>/dev/null)" || node=""
[ -n "$node" ] || node="$(uname -n)"

WORK="$(mktemp -d /tmp/pgsqlms-ci.XXXXXX)"
chmod 755 "$WORK"
setup_pg() {
  id postgres >/dev/null || return 1
  [ -x "$PGBIN/initdb" ] || { echo "$PGBIN/initdb missing (postgresql-15)"; return 1; }
  mkdir "$WORK/data" "$WORK/run" && chown postgres: "$WORK/data" "$WORK/run" || return 1
  (cd /tmp && runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/data" -A peer -U postgres) || return 1
  cat >>"$WORK/data/postgresql.conf" <<EOF
# added by packaging/ci-check.sh
listen_addresses = ''
port = 54329
unix_socket_directories = '$WORK/run'
primary_conninfo = 'host=192.0.2.1 port=54329 user=postgres application_name=$node'
recovery_target_timeline = 'latest'
EOF
}
check "initdb a PostgreSQL 15 test instance (application_name=$node)" setup_pg

good_opts=(--option system_user=postgres --option "bindir=$PGBIN" --option "pgdata=$WORK/data"
  --option "pghost=$WORK/run" --option pgport=54329)

# validate "what" "accepted codes" extra crm_resource options...
validate() {
  local what="$1" want="$2" rc
  shift 2
  : >"$LOG"
  (cd /tmp && crm_resource --validate --class ocf --provider rust --agent pgsqlms "$@") >>"$LOG" 2>&1
  rc=$?
  if [ "$want" = 0 ]; then
    if [ "$rc" = 0 ]; then ok "validate-all $what returns 0"; else ko "validate-all $what returns 0 (got $rc)"; fi
    return
  fi
  if [[ " $want " == *" $rc "* ]] && grep -q 'ocf-exit-reason:' "$LOG"; then
    ok "validate-all $what returns $rc with an exit reason (accepted: $want)"
  else
    ko "validate-all $what returns one of {$want} with an exit reason (got $rc)"
  fi
}

validate "with a good configuration" 0 "${good_opts[@]}"
validate "with a nonexistent system_user" "$EXPECT_RC_BAD_USER" "${good_opts[@]}" \
  --option system_user=pgsqlms-no-such-user
validate "with a nonexistent pgdata" "$EXPECT_RC_BAD_PGDATA" "${good_opts[@]}" \
  --option "pgdata=$WORK/no-such-dir"

touch "$WORK/data/recovery.conf.pcmk"
validate "with an existing recovery_template" "$EXPECT_RC_RECOVERY_TPL" "${good_opts[@]}"
rm -f "$WORK/data/recovery.conf.pcmk"

if [ -f "$WORK/data/postgresql.conf" ]; then
  sed -i "s/application_name=$node'/application_name=not-$node'/" "$WORK/data/postgresql.conf"
  validate "with primary_conninfo's application_name not the node name" "$EXPECT_RC_APP_NAME" "${good_opts[@]}"
  sed -i "s/application_name=not-$node'/application_name=$node'/" "$WORK/data/postgresql.conf"
else
  ko "validate-all with a wrong application_name (no test instance)"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
