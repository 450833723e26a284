#!/usr/bin/env bash
# Installs the peers the benchmark compares the agent with (and what the
# test harness needs). Idempotent: installs only what is missing and needs
# no network when everything is there. Nothing is started: the image's
# policy-rc.d keeps package installs from starting daemons, and bench.py
# runs its own blackbox exporter on a loopback port.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash tests/setup.sh

PKGS=(prometheus-blackbox-exporter monitoring-plugins-standard)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
       grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "bench setup: installing ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends "${missing[@]}"
# Debian starts the exporter as a service where it can; the benchmark
# needs none running (it would only add noise).
if command -v systemctl >/dev/null && systemctl is-active -q \
     prometheus-blackbox-exporter 2>/dev/null; then
  $SUDO systemctl stop prometheus-blackbox-exporter || true
fi
