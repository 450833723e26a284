#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan) and runs each one
# for a while on a copy of its seed corpus. Exit 1 on any crash, leak,
# timeout or out-of-memory; the input that caused it is kept in the work
# directory and its path printed.
#
#   bash tests/fuzz/run.sh                  every harness, FUZZ_SECONDS each
#   bash tests/fuzz/run.sh fuzz_config      only the named ones
#   bash tests/fuzz/run.sh coverage         line coverage of the corpora
#
# Environment:
#   FUZZ_SECONDS     seconds per harness (default 20; 0 = only replay the
#                    corpus once, a regression check)
#   FUZZ_BUILD_DIR   build directory (default build-fuzz/ in the repo)
#   FUZZ_WORK_DIR    where corpora copies, logs and crash inputs go
#                    (default: a new temporary directory, kept on failure)
#   FUZZ_CORPUS_DIR  keep the grown corpus here across runs: a directory
#                    per harness, seeded from tests/fuzz/corpus the first
#                    time (default: a throwaway copy in FUZZ_WORK_DIR)
#   FUZZ_ARGS        more libFuzzer flags, e.g. "-jobs=4 -workers=2"
# Nothing is ever written into the repository's tests/fuzz/corpus.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HARNESSES=(fuzz_reply fuzz_ehlo fuzz_config fuzz_expo fuzz_sdfile)
SECONDS_EACH=${FUZZ_SECONDS:-20}
BUILD=${FUZZ_BUILD_DIR:-$REPO/build-fuzz}
# Runs happen in a work directory: a relative build dir means the caller's.
case "$BUILD" in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
EXTRA=${FUZZ_ARGS:-}

# Largest input per harness: long enough for the limits each parser
# enforces (a 4 KiB reply line, 1000 lines, 200-character config lines),
# short enough to keep thousands of runs a second.
max_len() {
    case $1 in
    fuzz_reply) echo 16384 ;;
    fuzz_ehlo) echo 8192 ;;
    fuzz_config) echo 8192 ;;
    fuzz_expo) echo 4096 ;;
    fuzz_sdfile) echo 8192 ;;
    esac
}

corpus_name() { echo "${1#fuzz_}"; }

need() {
    command -v "$1" >/dev/null || {
        echo "fuzz: $1 not found (apt-get install $2)" >&2
        exit 2
    }
}
need clang clang
need cmake cmake

build() { # dir, extra cmake args...
    local dir=$1
    shift
    cmake -S "$HERE" -B "$dir" -DCMAKE_C_COMPILER=clang \
        -DCMAKE_BUILD_TYPE= "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
}

mode=fuzz
selected=()
for a in "$@"; do
    case $a in
    coverage) mode=coverage ;;
    fuzz_*) selected+=("$a") ;;
    -h | --help)
        sed -n '2,24p' "$0"
        exit 0
        ;;
    *)
        echo "fuzz: unknown argument $a" >&2
        exit 2
        ;;
    esac
done
[ ${#selected[@]} -gt 0 ] || selected=("${HARNESSES[@]}")

WORK=${FUZZ_WORK_DIR:-$(mktemp -d /tmp/smtp-health-agent-fuzz.XXXXXX)}
mkdir -p "$WORK"
WORK=$(realpath "$WORK")
CORPUS_ROOT=
if [ -n "${FUZZ_CORPUS_DIR:-}" ]; then
    CORPUS_ROOT=$(realpath -m "$FUZZ_CORPUS_DIR")
fi
for d in "$WORK" "$CORPUS_ROOT"; do
    case $d/ in "$REPO"/tests/*)
        echo "fuzz: $d is inside tests/: keep fuzzing state elsewhere" >&2
        [ -n "${FUZZ_WORK_DIR:-}" ] || rm -rf "$WORK"
        exit 2
        ;;
    esac
done

# The corpus directory libFuzzer reads and grows: never the repository's.
corpus_dir() {
    local name dir
    name=$(corpus_name "$1")
    dir=${CORPUS_ROOT:-$WORK/corpus}/$name
    if [ ! -d "$dir" ]; then
        mkdir -p "$dir"
        cp "$HERE/corpus/$name"/* "$dir"/
    fi
    echo "$dir"
}

dict_file() {
    local d
    d=$HERE/$(corpus_name "$1").dict
    [ -f "$d" ] && echo "$d"
    return 0
}

if [ "$mode" = coverage ]; then
    need llvm-profdata-14 llvm-14
    need llvm-cov-14 llvm-14
    cov=$BUILD-coverage
    build "$cov" -DFUZZ_COVERAGE=ON
    rm -f "$WORK"/*.profraw
    for h in "${selected[@]}"; do
        dir=$(corpus_dir "$h")
        LLVM_PROFILE_FILE="$WORK/$h.profraw" "$cov/$h" -runs=0 \
            "$dir" >"$WORK/$h.coverage.log" 2>&1
    done
    llvm-profdata-14 merge -o "$WORK/all.profdata" "$WORK"/*.profraw
    objs=()
    for h in "${selected[@]}"; do objs+=(-object "$cov/$h"); done
    llvm-cov-14 report "${objs[@]:1}" -instr-profile="$WORK/all.profdata" \
        "$REPO"/agent/{smtp_reply,config,expo,buf}.c
    echo "fuzz: coverage data in $WORK"
    exit 0
fi

build "$BUILD"
echo "fuzz: $BUILD, work dir $WORK, ${SECONDS_EACH}s per harness"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for h in "${selected[@]}"; do
    dir=$(corpus_dir "$h")
    art=$WORK/artifacts/$h
    mkdir -p "$art"
    log=$WORK/$h.log
    if [ "$SECONDS_EACH" = 0 ]; then
        run=(-runs=0)
    else
        run=(-max_total_time="$SECONDS_EACH")
    fi
    dict=$(dict_file "$h")
    [ -z "$dict" ] || run+=(-dict="$dict")
    # FUZZ_ARGS is a list of flags: split on spaces.
    read -r -a extra <<<"$EXTRA"
    set +e
    (cd "$WORK" && "$BUILD/$h" "${run[@]}" "${extra[@]}" \
        -max_len="$(max_len "$h")" -timeout=5 -rss_limit_mb=512 \
        -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$art/" \
        "$dir") >"$log" 2>&1
    rc=$?
    set -e
    found=$(find "$art" -type f | head -5)
    echo "--- $h (exit $rc, corpus $(find "$dir" -type f | wc -l) files)"
    # libFuzzer's own summary: the last status line and the final stats.
    grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|^Done [0-9]+ runs|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|^SUMMARY|ERROR: libFuzzer|^==[0-9]+==ERROR' \
        "$log" | tail -8 || true
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        failed+=("$h")
        echo "fuzz: $h FAILED; log $log"
        for f in $found; do
            echo "fuzz:   reproduce: $BUILD/$h $f"
        done
        tail -40 "$log"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]} (work dir kept: $WORK)"
    exit 1
fi
echo "fuzz: all ${#selected[@]} harnesses passed"
[ -n "${FUZZ_WORK_DIR:-}" ] || rm -rf "$WORK"
