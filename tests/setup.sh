#!/usr/bin/env bash
# Installs what building, testing and the demo need, from Debian's
# packages (and the npm packages of the dashboard check). Idempotent:
# installs only what is missing, and needs no network at all when
# everything is there.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libcurl4-openssl-dev libssl-dev libmicrohttpd-dev libinih-dev
  libcmocka-dev zlib1g-dev libjansson-dev libyaml-dev
  openssl ca-certificates curl procps systemd
  postfix sasl2-bin libsasl2-modules libsasl2-modules-db
  python3 python3-aiosmtpd swaks
  prometheus prometheus-alertmanager
  chromium
  clang clang-format libclang-rt-14-dev valgrind
  mandoc
  dpkg-dev lintian adduser man-db
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
       grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# Node.js may come from elsewhere than Debian: look for the commands, and
# only without them install Debian's (the dashboard schema check needs it).
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "setup: installing ${missing[*]}"
  # Postfix asks what kind of mail system this is: none; we run our own
  # instances in temporary directories.
  echo 'postfix postfix/main_mailer_type select No configuration' |
    $SUDO debconf-set-selections
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
  # The tests start Alertmanager themselves on free loopback ports
  # (tests/support/alertmanager.py), like Prometheus; Debian's package
  # enables a service of its own (ports 9093 and 9094) that nothing here
  # needs: stop and disable it when this run installed it.
  if [[ " ${missing[*]} " == *" prometheus-alertmanager "* ]]; then
    if [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now prometheus-alertmanager.service || true
    else
      $SUDO /etc/init.d/prometheus-alertmanager stop >/dev/null 2>&1 || true
      $SUDO update-rc.d prometheus-alertmanager disable >/dev/null 2>&1 || true
    fi
  fi
fi

# The dashboard schema tooling, pinned in tests/dashboards/package-lock.json.
bash "$(dirname "$0")/dashboards/setup.sh"
