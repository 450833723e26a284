#!/usr/bin/env bash
# Builds and runs sched_bench (not part of ctest): CPU per scheduler call
# for n = 100 .. 100,000 targets and per reload. Uses the library of an
# existing build directory (default build-sched2; BUILD=dir to change).
# Arguments go to the program: [probes per size] [largest n to reload].
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build-sched2}
cmake --build "$build" --target agentcore >/dev/null
out="$build/sched_bench"
# shellcheck disable=SC2046
cc -std=c11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Werror -Iagent \
   -I"$build/generated" tests/bench/sched_bench.c "$build/libagentcore.a" \
   $(pkg-config --libs libcurl openssl libmicrohttpd inih zlib) \
   -lcrypt -lpthread -lm -o "$out"
"$out" "$@"
