#!/usr/bin/env bash
# Install the Debian packages the test suite runs against, when they are missing.
# Idempotent and quiet when everything is present. Needs root (or sudo) to install.
set -euo pipefail

# binary=package pairs: the package is installed when the binary is not found.
DEPS=(
  chromium=chromium   # browser tests (tests/browser/), driven by Playwright
  node=nodejs         # the JavaScript client's unit tests (tests/static/)
)

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$2" ]; }
for spec in "${DEPS[@]}" ${TICKWIRE_SYSDEPS:-}; do
  bin=${spec%%=*}; pkg=${spec#*=}
  have "$bin" "/usr/sbin/$bin" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
