#!/usr/bin/env bash
# Installs the system packages the tests, the cluster harness, packaging and benchmarks need,
# those that are missing only (nothing already installed is upgraded). Safe to run again.
# Needs root.
#
# It starts, stops and kills nothing: the sandbox cluster runs its own corosync, pacemaker and
# PostgreSQL inside namespaces (own network, mounts, /run, /dev/shm), whatever runs on the
# host. While apt installs, a policy-rc.d (when the machine has none) forbids the packages'
# scripts to start or stop services, so a workstation's own PostgreSQL or cluster stays as
# it is; daemons this script newly installs are not enabled at boot either.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  postgresql-15 postgresql-client-15
  pacemaker corosync pacemaker-cli-utils resource-agents crmsh pcs
  libxml2-utils xsltproc man-db groff-base rpm
  iproute2 procps psmisc util-linux strace file python3 openssl
  fence-agents resource-agents-paf gettext-base
)
# The daemons among them, as systemd units.
daemon_units=(postgresql.service corosync.service pacemaker.service pcsd.service)

missing=()
for p in "${packages[@]}"; do
  [[ $(dpkg-query -W -f '${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: every package is installed"
  exit 0
fi

new_units=()
for u in "${daemon_units[@]}"; do
  [[ -e /lib/systemd/system/$u ]] || new_units+=("$u")
done

policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  trap 'rm -f "$policy"' EXIT
  printf '#!/bin/sh\n# written by pgsqlms .ci/install-deps.sh for the duration of its apt-get install\nexit 101\n' >"$policy"
  chmod 755 "$policy"
else
  echo "install-deps: keeping the existing $policy (it decides whether services start)"
fi

echo "install-deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for u in "${new_units[@]}"; do
  if [[ -e /lib/systemd/system/$u ]] && command -v systemctl >/dev/null; then
    systemctl disable --quiet "$u" 2>/dev/null || echo "install-deps: could not disable $u at boot" >&2
  fi
done
