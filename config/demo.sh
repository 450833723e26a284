#!/usr/bin/env bash
# The demo: installs the Debian packages the demo needs and nothing else
# (build tools and libraries, python3-aiosmtpd for the demo server, curl;
# not the test setup's Postfix, Prometheus, Chromium, clang, valgrind or
# Node.js: that is tests/setup.sh), builds the agent, starts the bundled
# demo SMTP server and the agent with config/demo.ini on loopback, and
# shows where to look. Ctrl-C stops both.
#
#   bash config/demo.sh            run until Ctrl-C or SIGTERM
#   bash config/demo.sh --check    run until every AUTH class the demo
#                                  shows has counted up (at most
#                                  DEMO_SECONDS), print the lines, stop;
#                                  exit 0 when they did, 1 when not
#
# Environment:
#   DEMO_SMTP_PORT     demo SMTP server port (default 2525)
#   DEMO_HTTP_PORT     agent HTTP port (default 9925)
#   DEMO_SECONDS       --check deadline in seconds (default 30); setting it
#                      implies --check
#   DEMO_SKIP_BUILD=1  neither install packages nor build: use the binary
#                      in SMTP_HEALTH_AGENT (default build/smtp-health-agent)
#   SMTP_HEALTH_AGENT  the agent binary to run
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

PYTHON=/usr/bin/python3 # Debian's, which has aiosmtpd
SMTP_PORT=${DEMO_SMTP_PORT:-2525}
HTTP_PORT=${DEMO_HTTP_PORT:-9925}
CHECK=0
[ -n "${DEMO_SECONDS:-}" ] && CHECK=1
SECONDS_MAX=${DEMO_SECONDS:-30}
# Not the demo user's password: the demo-wrong-password target's.
WRONG_PASSWORD=not-the-demo-password

die() {
  echo "demo: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

for arg in "$@"; do
  case $arg in
  --check) CHECK=1 ;;
  -h | --help)
    usage
    exit 0
    ;;
  *) die "unknown argument: $arg (try --help)" ;;
  esac
done

check_number() { # NAME VALUE
  if ! [[ $2 =~ ^[0-9]{1,5}$ ]] || [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then
    die "$1 must be a number from 1 to 65535, not '$2'"
  fi
}
check_number DEMO_SMTP_PORT "$SMTP_PORT"
check_number DEMO_HTTP_PORT "$HTTP_PORT"
check_number DEMO_SECONDS "$SECONDS_MAX"
[ "$SMTP_PORT" != "$HTTP_PORT" ] || die "DEMO_SMTP_PORT and DEMO_HTTP_PORT are the same"

# Something already answering on a port would make the demo probe or
# serve the wrong thing; say so before starting anything.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
port_in_use "$SMTP_PORT" &&
  die "127.0.0.1:$SMTP_PORT is in use (another demo?); pick another with DEMO_SMTP_PORT=N"
port_in_use "$HTTP_PORT" &&
  die "127.0.0.1:$HTTP_PORT is in use (another demo?); pick another with DEMO_HTTP_PORT=N"

# What the demo needs, a subset of tests/setup.sh's PKGS: building the
# agent (libcmocka-dev too, so that build/ configures as the tests'
# build does), the demo server (python3-aiosmtpd; openssl makes its
# certificate) and curl.
DEMO_PKGS=(
  build-essential cmake pkg-config
  libcurl4-openssl-dev libssl-dev libmicrohttpd-dev libinih-dev
  libcmocka-dev zlib1g-dev libjansson-dev libyaml-dev
  openssl ca-certificates curl
  python3 python3-aiosmtpd
)

install_demo_packages() {
  local missing=() p SUDO=
  for p in "${DEMO_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
      grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "demo: the packages it needs are installed"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "demo: installing what the demo needs: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}"
}

if [ "${DEMO_SKIP_BUILD:-0}" = 1 ]; then
  AGENT=${SMTP_HEALTH_AGENT:-$REPO/build/smtp-health-agent}
else
  install_demo_packages ||
    die "installing packages failed: run the demo as root, or as a user who may sudo"
  echo "demo: building into build/"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j "$(nproc 2>/dev/null || echo 2)" \
    --target smtp-health-agent
  AGENT=${SMTP_HEALTH_AGENT:-$REPO/build/smtp-health-agent}
fi
[ -x "$AGENT" ] || die "no agent binary at $AGENT"
[ -x "$PYTHON" ] || die "$PYTHON not found (Debian's python3, with python3-aiosmtpd)"

RUN=$(mktemp -d "${TMPDIR:-/tmp}/smtp-health-agent-demo.XXXXXX")
SERVER_PID=
AGENT_PID=
FAILED=0

# shellcheck disable=SC2317 # stop_pid, show_logs: run from the EXIT trap
stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317
show_logs() {
  for f in agent.log smtp-server.log; do
    [ -s "$RUN/$f" ] || continue
    echo "--- last lines of $f" >&2
    tail -n 20 "$RUN/$f" >&2
  done
}

# shellcheck disable=SC2317
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ "$rc" -ne 0 ] && [ "$FAILED" = 1 ] && show_logs
  stop_pid "$AGENT_PID"
  stop_pid "$SERVER_PID"
  rm -rf "$RUN"
  exit "$rc"
}
trap cleanup EXIT
# Stopping the interactive demo is its normal end; a --check cut short
# did not check anything.
if [ "$CHECK" = 1 ]; then
  trap 'echo "demo: interrupted" >&2; exit 1' INT TERM
else
  trap 'echo; echo "demo: stopping"; exit 0' INT TERM
fi

fail() {
  FAILED=1
  die "$@"
}

# The demo server writes its demo password into this file (mode 0600); the
# agent gets it through DEMO_PASSWORD, as config/demo.ini says.
"$PYTHON" tests/support/aiosmtpd_server.py --demo --port "$SMTP_PORT" \
  --password-file "$RUN/demo.secret" --ready-file "$RUN/smtp.ready" \
  </dev/null >"$RUN/smtp-server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 150); do
  [ -f "$RUN/smtp.ready" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the demo SMTP server exited"
  sleep 0.1
done
[ -f "$RUN/smtp.ready" ] || fail "the demo SMTP server did not start in 15 s"

CONFIG=config/demo.ini
if [ "$SMTP_PORT" != 2525 ]; then
  # The agent has no flag for a target's port: use a copy of demo.ini.
  CONFIG=$RUN/demo.ini
  sed "s/^port = 2525\$/port = $SMTP_PORT/" config/demo.ini >"$CONFIG"
  grep -q "^port = $SMTP_PORT\$" "$CONFIG" || fail "could not set the port in $CONFIG"
fi

DEMO_PASSWORD=$(cat "$RUN/demo.secret")
DEMO_WRONG_PASSWORD=$WRONG_PASSWORD
export DEMO_PASSWORD DEMO_WRONG_PASSWORD
"$AGENT" -c "$CONFIG" --listen "127.0.0.1:$HTTP_PORT" \
  </dev/null >/dev/null 2>"$RUN/agent.log" &
AGENT_PID=$!
unset DEMO_PASSWORD DEMO_WRONG_PASSWORD

URL=http://127.0.0.1:$HTTP_PORT
for _ in $(seq 150); do
  curl -fsS --max-time 1 "$URL/-/ready" >/dev/null 2>&1 && break
  kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited"
  sleep 0.1
done
curl -fsS --max-time 1 "$URL/-/ready" >/dev/null 2>&1 ||
  fail "the agent is not ready after 15 s"

# Sum of smtp_auth_results_total over targets and mechanisms, per class:
# lines "CLASS VALUE" for success, auth_failed, unsupported_parameter.
auth_sums() {
  curl -fsS --max-time 5 "$URL/metrics" | awk '
    /^smtp_auth_results_total\{/ {
      if (match($0, /class="[a-z_]+"/)) {
        c = substr($0, RSTART + 7, RLENGTH - 8)
        sum[c] += $NF
      }
    }
    END {
      n = split("success auth_failed unsupported_parameter", want, " ")
      for (i = 1; i <= n; i++) printf "%s %d\n", want[i], sum[want[i]]
    }'
}

# True when every class in $2 ("CLASS VALUE" lines) is above its value in
# $1; with an empty $1, above 0.
all_above() {
  local before=$1 now=$2 class value prev
  while read -r class value; do
    prev=$(awk -v c="$class" '$1 == c { print $2 }' <<<"$before")
    [ "$value" -gt "${prev:-0}" ] || return 1
  done <<<"$now"
}

if [ "$CHECK" = 1 ]; then
  deadline=$((SECONDS + SECONDS_MAX))
  first=''
  now=''
  # Counting up: every class above 0, then every class above that.
  while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited"
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the demo SMTP server exited"
    now=$(auth_sums || true)
    if [ -z "$first" ]; then
      [ -n "$now" ] && all_above "" "$now" && first=$now
    elif all_above "$first" "$now"; then
      break
    fi
    sleep 0.5
  done
  # The series that counted, not the pre-initialised zeros.
  curl -fsS --max-time 5 "$URL/metrics" |
    awk '/^smtp_auth_results_total\{/ && $NF != 0' || true
  echo "demo: sums per class, first seen -> now:"
  while read -r class value; do
    echo "  $class $(awk -v c="$class" '$1 == c { print $2 }' <<<"$first") -> $value"
  done <<<"$now"
  if [ -n "$first" ] && all_above "$first" "$now"; then
    echo "demo: ok: success, auth_failed and unsupported_parameter count up"
    exit 0
  fi
  fail "the AUTH classes did not all count up within ${SECONDS_MAX} s"
fi

cfg_hint=$CONFIG
[ "$CONFIG" = config/demo.ini ] || cfg_hint="$CONFIG (config/demo.ini with port $SMTP_PORT)"
cat <<EOF

smtp-health-agent demo is running.
  demo SMTP server  127.0.0.1:$SMTP_PORT (STARTTLS, self-signed certificate,
                    user demo@example.com, password in $RUN/demo.secret)
  agent             $URL  (config $cfg_hint)

Every 5 seconds the agent probes three targets: demo-good (PLAIN and LOGIN,
expect 235), demo-wrong-password (expect 535), demo-cram-md5 (a mechanism
the server does not offer, expect 504). Look at:

  curl -s $URL/metrics | grep smtp_auth_results_total
  $URL/                (status page: last replies, classes, TLS facts)
  tail -f $RUN/agent.log $RUN/smtp-server.log

One probe of every target, printed as a table (exit 1: two targets fail
on purpose):

  DEMO_PASSWORD=\$(cat $RUN/demo.secret) DEMO_WRONG_PASSWORD=wrong \\
    $AGENT -c $CONFIG --once

The class of a reply code at each stage:  $AGENT --explain 504

Ctrl-C stops the demo (the agent, the server, and $RUN).
EOF

# Wait for Ctrl-C / SIGTERM (the trap) or a child that dies on its own.
set +e
wait -n "$AGENT_PID" "$SERVER_PID"
set -e
fail "the agent or the demo SMTP server exited unexpectedly"
