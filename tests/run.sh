#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what it needs, builds,
# runs unit and integration tests, then builds and runs them all again
# under AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh

jobs=$(nproc 2>/dev/null || echo 2)
for variant in default asan; do
  dir=build-test-$variant
  extra=()
  [ "$variant" = asan ] && extra=(-DSANITIZE=ON)
  echo "=== $variant build"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${extra[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "=== $variant tests"
  ctest --test-dir "$dir" --output-on-failure --timeout 600
done
