#!/usr/bin/env bash
# Installs the system programs the test suite drives for real: Tor (onion
# tests), Chromium (browser tests), iproute2 (network-namespace fault
# tests), HAProxy and nginx (the "Running at scale" proxy tests). Runs
# before `pnpm test`; does nothing when they are present.
set -euo pipefail
missing=()
command -v tor >/dev/null 2>&1 || missing+=(tor)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The test suite needs: ${missing[*]}. Install them (Debian: apt-get install ${missing[*]}) and run again." >&2
  exit 1
fi
echo "installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
