#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what it needs, checks
# the style (clang-format) and that clang builds without a warning too,
# builds, runs unit and integration tests, builds and runs them all again
# under AddressSanitizer and UndefinedBehaviorSanitizer, then runs each
# libFuzzer harness briefly. A failing part does not stop the ones after
# it (a failed default run still gets its sanitizer run and the fuzzers);
# the exit status is 1 when any part failed, and the last lines say which.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh
bash tests/style.sh

jobs=$(nproc 2>/dev/null || echo 2)
failed=()
for variant in default asan; do
  dir=build-test-$variant
  extra=()
  [ "$variant" = asan ] && extra=(-DSANITIZE=ON)
  echo "=== $variant build"
  if ! { cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${extra[@]}" >/dev/null &&
         cmake --build "$dir" -j "$jobs"; }; then
    failed+=("$variant build")
    continue
  fi
  echo "=== $variant tests"
  ctest --test-dir "$dir" --output-on-failure --timeout 600 ||
    failed+=("$variant tests")
done

echo "=== fuzz (libFuzzer, ASan/UBSan, ${FUZZ_SECONDS:-20}s per harness)"
FUZZ_BUILD_DIR=build-test-fuzz bash tests/fuzz/run.sh || failed+=("fuzz")

if [ ${#failed[@]} -gt 0 ]; then
  printf '=== FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "=== all passed: default and asan tests, fuzz"
