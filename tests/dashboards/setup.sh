#!/usr/bin/env bash
# Installs the dashboard schema checker's npm packages (exact versions from
# package-lock.json) into tests/dashboards/node_modules. Idempotent and
# quiet: runs `npm ci` only when node_modules is missing or was installed
# from another package-lock.json; no network otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

stamp=node_modules/.installed-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

for tool in node npm; do
  command -v "$tool" >/dev/null ||
    { echo "dashboards/setup: $tool not found (Debian: apt-get install nodejs npm)" >&2; exit 1; }
done
echo "dashboards/setup: npm ci in tests/dashboards"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
echo "$want" >"$stamp"
