#!/bin/bash
# Run the SMMU qtests against the ASan + UBSan build of build-sanitize.sh
# and print one closing line "N passed, N failed".  Exit non-zero on
# failure.  A test fails when it exits non-zero, when no test case ran, when
# a TAP case failed, or when its log holds a sanitizer report: qtest starts
# QEMU as a child whose stderr goes to the test's output, so a report there
# fails the run even when every exit status was 0.
#   SAN_DETECT_LEAKS=0   turn LeakSanitizer off (on by default)
#   QTEST_TIMEOUT=secs   per run of a test binary (default 900)
set -uo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/build-lib.sh"

SAN_DIR=${SAN_DIR:-$BUILD_DIR/obj-san}
LOG_DIR=${SAN_LOG_DIR:-$BUILD_DIR/test-logs/sanitize}
QTEST_TIMEOUT=${QTEST_TIMEOUT:-900}
QEMU_BIN=$SAN_DIR/qemu-system-aarch64

[ -f "$SAN_DIR/build.ninja" ] || die "no sanitizer build in $SAN_DIR: run scripts/build-sanitize.sh"
[ -x "$QEMU_BIN" ] || die "$QEMU_BIN not built: run scripts/build-sanitize.sh"

# Stop at the first report of either sanitizer, with a stack, and abort so
# that a QEMU child dies from SIGABRT, which libqtest turns into a failure.
# UBSan recovers and goes on by default: halt_on_error=1 makes it fatal.
# LeakSanitizer stays on: neither QEMU (it exits on the SIGTERM of
# qtest_quit(), or on 'quit') nor the test binary reports a leak on exit;
# what QEMU does not free at exit is still reachable from globals.
# Options given in ASAN_OPTIONS / UBSAN_OPTIONS come last and win.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_summary=1:detect_leaks=${SAN_DETECT_LEAKS:-1}${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export QTEST_QEMU_BINARY=$QEMU_BIN

# What a sanitizer report starts or ends with, as fixed strings.
SAN_PATTERNS=(
    -e 'runtime error:'
    -e 'ERROR: AddressSanitizer'
    -e 'ERROR: LeakSanitizer'
    -e 'SUMMARY: AddressSanitizer'
    -e 'SUMMARY: UndefinedBehaviorSanitizer'
)

# The SMMU qtests the build defines, as build-sanitize.sh finds them.
mapfile -t tests < <(smmu_qtests "$SAN_DIR")
[ ${#tests[@]} -gt 0 ] || die "no SMMU qtest in $SAN_DIR"

fresh_dir "$LOG_DIR"

# Test paths that measure QEMU's RSS (regex).  ASan's quarantine keeps up
# to 256 MiB of freed memory from reuse, to catch use-after-free: there
# an RSS bound fails from allocation churn alone (hostile/rss-all-ssids:
# +392 MiB, +0 KiB with quarantine_size_mb=0).  These paths run on their
# own with the quarantine off; every other path keeps it.
RSS_PATHS=${SAN_RSS_PATHS:-/rss}

# run_qtest NAME ASAN_EXTRA EXE [ARGS...]: one run of a qtest binary in TAP
# mode, ASAN_EXTRA appended to ASAN_OPTIONS, its output in $LOG_DIR/NAME.log.
run_qtest() {
    local name=$1 extra=$2 exe=$3 log rc start=$SECONDS took why
    shift 3
    log=$LOG_DIR/$name.log
    if [ -x "$exe" ]; then
        ASAN_OPTIONS="$ASAN_OPTIONS${extra:+:$extra}" \
            bounded "$QTEST_TIMEOUT" "$exe" --tap -k -m slow "$@" >"$log" 2>&1 </dev/null
        rc=$?
    else
        echo "$exe not built: run scripts/build-sanitize.sh" >"$log"
        rc=1
    fi
    took=$((SECONDS - start))
    if grep -q -F "${SAN_PATTERNS[@]}" "$log"; then
        why="sanitizer report"
    else
        why=$(tap_problem "$log" "$rc" "$QTEST_TIMEOUT")
    fi
    if [ -z "$why" ]; then
        result PASS "$name" "${took}s ($(tap_ok "$log") cases ok${extra:+, $extra})"
        return
    fi
    result FAIL "$name" "${took}s ($why; $(tap_ok "$log") ok, $(tap_not_ok "$log") not ok; log $log)"
    if [ "$why" = "sanitizer report" ]; then
        # The first report, from just before its first line on.
        local first
        first=$(grep -n -m 1 -F "${SAN_PATTERNS[@]}" "$log" | cut -d: -f1)
        first=$(( first > 3 ? first - 3 : 1 ))
        tail -n +"$first" "$log" | head -n 80 | sed 's/^/    | /'
    else
        tail -n 25 "$log" | sed 's/^/    | /'
    fi
}

note "SMMU qtests on the sanitizer build (ASan + UBSan, detect_leaks=${SAN_DETECT_LEAKS:-1})"
note "QTEST_QEMU_BINARY=$QTEST_QEMU_BINARY"
note "ASAN_OPTIONS=$ASAN_OPTIONS"
note "UBSAN_OPTIONS=$UBSAN_OPTIONS"
all_start=$(date +%s)
for t in "${tests[@]}"; do
    exe=$SAN_DIR/$t
    name=qtest-aarch64-${t##*/}
    rss=() skip=() only=()
    if [ -x "$exe" ]; then
        mapfile -t rss < <("$exe" -l -m slow 2>/dev/null | grep '^/' | grep -E -- "$RSS_PATHS")
    fi
    for p in "${rss[@]}"; do
        skip+=(-s "$p"); only+=(-p "$p")
    done
    run_qtest "$name" "" "$exe" "${skip[@]}"
    if [ ${#rss[@]} -gt 0 ]; then
        run_qtest "$name-rss" quarantine_size_mb=0 "$exe" "${only[@]}"
    fi
done

echo
note "done in $(( $(date +%s) - all_start )) s, logs in $LOG_DIR"
summary
