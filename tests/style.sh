#!/usr/bin/env bash
# The checks a compiler run does not make: every C file as clang-format
# (.clang-format) would write it, and the whole tree built by clang too,
# with the same -Werror flags as gcc's build, so that a warning only one
# of the two compilers gives still fails. Prints what drifted.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "=== clang-format"
drift=0
for f in agent/*.c agent/*.h tests/unit/*.c tests/fuzz/*.c tests/fuzz/*.h; do
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "style: $f differs from clang-format's output:"
    clang-format "$f" | diff -u "$f" - | head -40 || true
    drift=1
  fi
done
if [ "$drift" -ne 0 ]; then
  echo "style: run clang-format -i on the files above"
  exit 1
fi
echo "clang-format: no drift"

echo "=== clang build (-Werror)"
dir=${CLANG_BUILD_DIR:-build-test-clang}
CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j "$(nproc 2>/dev/null || echo 2)"
echo "clang build: no warning"
