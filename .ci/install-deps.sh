#!/usr/bin/env bash
# Installs every system package the tests, the cluster harness, packaging and benchmarks need.
# Safe to run again. Needs root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  postgresql-15 postgresql-client-15
  pacemaker corosync pacemaker-cli-utils resource-agents crmsh pcs
  libxml2-utils xsltproc man-db groff-base rpm
  iproute2 procps psmisc util-linux strace file
  fence-agents resource-agents-paf gettext-base
)
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Debian starts a default cluster and the HA daemons on install; the tests run their own.
systemctl stop postgresql pacemaker corosync pcsd 2>/dev/null || true
pkill -x postgres 2>/dev/null || true
