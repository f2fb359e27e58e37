#!/bin/bash
# Run every test of 'make check' against the built tree and print one
# closing line "N passed, N failed[, N skipped]".  Exit non-zero on failure.
set -uo pipefail
. "$(dirname "$0")/config.sh"

LOG_DIR=$BUILD_DIR/test-logs
rm -rf "$LOG_DIR"
mkdir -p "$LOG_DIR"
QTEST_TIMEOUT=${QTEST_TIMEOUT:-900}
passed=0 failed=0 skipped=0
failures=()

# run_test NAME COMMAND...: one test, its output in $LOG_DIR/NAME.log.
# Exit status 77 means skipped.
run_test() {
    local name=$1 log rc start
    shift
    log="$LOG_DIR/${name//\//_}.log"
    start=$(date +%s)
    "$@" >"$log" 2>&1 </dev/null
    rc=$?
    local took=$(( $(date +%s) - start ))
    if [ $rc = 0 ]; then
        passed=$((passed + 1)); printf 'PASS  %-50s %4ss\n' "$name" "$took"
    elif [ $rc = 77 ]; then
        skipped=$((skipped + 1)); printf 'SKIP  %-50s %s\n' "$name" "$(tail -n 1 "$log")"
    else
        failed=$((failed + 1)); failures+=("$name")
        printf 'FAIL  %-50s %4ss (exit %s, log %s)\n' "$name" "$took" "$rc" "$log"
        tail -n 25 "$log" | sed 's/^/    | /'
    fi
}

# qtest TARGET BINARY [FILTER]: a QEMU qtest binary in TAP mode.  FILTER
# is an extended regex: only the test paths matching it run; with a
# leading '!', the paths matching it are left out (and listed).
qtest() {
    local arch=$1 bin=$2 filter=${3:-} paths=()
    local exe="$OBJ_DIR/tests/qtest/$bin"
    [ -x "$exe" ] || { echo "$exe not built"; return 1; }
    export QTEST_QEMU_BINARY="$OBJ_DIR/qemu-system-$arch"
    export MALLOC_PERTURB_=$(( (RANDOM % 255) + 1 ))
    if [ -n "$filter" ]; then
        if [ "${filter:0:1}" = '!' ]; then
            echo "# left out: $("$exe" -l | grep -E -- "${filter:1}" | tr '\n' ' ')"
            mapfile -t paths < <("$exe" -l | grep -v -E -- "${filter:1}" | sed 's/^/-p\n/')
        else
            mapfile -t paths < <("$exe" -l | grep -E -- "$filter" | sed 's/^/-p\n/')
        fi
        [ ${#paths[@]} -gt 0 ] || { echo "no test path matches '$filter'"; return 1; }
    fi
    timeout --kill-after=10 "$QTEST_TIMEOUT" "$exe" --tap -k "${paths[@]}" || return 1
    # GLib exits 0 even when every test was skipped: count what ran.
    local log="$LOG_DIR/qtest-$arch-$bin.log"
    grep -q '^ok ' "$log" || { echo "no test ran"; return 1; }
    ! grep -q '^not ok ' "$log"
}

# checkpatch PATCH: errors fail, warnings are listed in the summary.
checkpatch() {
    perl "$WORK_TREE/scripts/checkpatch.pl" --no-tree "$PATCH_DIR/$1"
}

note "qtests"
for q in "${QTESTS[@]}"; do
    IFS=: read -r arch bin filter <<<"$q"
    run_test "qtest-$arch-$bin" qtest "$arch" "$bin" "$filter"
done

note "checkpatch over patches/"
warn=0
while read -r p; do
    case "$p" in ''|'#'*) continue;; esac
    run_test "checkpatch-${p%.patch}" checkpatch "$p"
    w=$(grep -c '^WARNING' "$LOG_DIR/checkpatch-${p%.patch}.log" || true)
    if [ "$w" != 0 ]; then
        warn=$((warn + w))
        grep -A3 '^WARNING' "$LOG_DIR/checkpatch-${p%.patch}.log" | sed 's/^/    warning| /'
    fi
done < <(cat "$PATCH_DIR/series" 2>/dev/null)
[ $warn = 0 ] || echo "checkpatch: $warn warning(s) listed above"

for extra in "$TOP"/tests/check.d/*.sh; do
    [ -f "$extra" ] || continue
    . "$extra"
done

echo
[ ${#failures[@]} = 0 ] || echo "failed: ${failures[*]}"
if [ $skipped -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ $failed = 0 ]
