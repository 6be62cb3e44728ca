#!/usr/bin/env bash
# Install the Debian packages the test suite runs against, when they are missing.
# Idempotent and quiet when everything is present. Needs root (or sudo) to install.
#
# A plain list of "binary package" pairs: the package is installed when the binary is
# found neither on PATH nor in /usr/sbin nor in /usr/lib/postgresql/*/bin.
# TICKWIRE_SYSDEPS="bin=pkg ..." adds pairs from the environment.
set -euo pipefail

DEPS=(
  "redis-server redis-server"  # the scaled-out broker (tests/infra.py RedisServer)
  "initdb postgresql"          # PostgreSQL for the database pass of `make test`
  "postgres postgresql"
  "nginx nginx"                # the reverse proxy in front of several nodes
  "chromium chromium"          # browser tests (tests/browser/), driven by Playwright
  "node nodejs"                # the JavaScript client's unit tests (tests/static/)
  "npm npm"                    # `npm ci` of the node-ws benchmark peer (make bench)
  "systemd-analyze systemd"    # `systemd-analyze verify` of the shipped units (tests/deploy/)
)
for spec in ${TICKWIRE_SYSDEPS:-}; do DEPS+=("${spec%%=*} ${spec#*=}"); done

have() {
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null && return 0
  return 1
}

need=()
for pair in "${DEPS[@]}"; do
  read -r bin pkg <<<"$pair"
  if ! have "$bin" && [[ " ${need[*]} " != *" $pkg "* ]]; then need+=("$pkg"); fi
done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# The tests start their own servers on free ports: keep the packages from starting
# system-wide services (on :6379, :5432, :80) while installing.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  ADDED_POLICY=1
fi
trap '[ -n "$ADDED_POLICY" ] && $SUDO rm -f "$POLICY"' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
