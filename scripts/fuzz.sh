#!/bin/bash
# 'make fuzz SECONDS=N SEED=S': smmuv3-test's hostile-guest fuzzing (seeds
# S, S+1, ... of 1000 random steps each) for about N seconds, on the
# sanitizer build when it exists (SANITIZE=0: the normal build); prints
# the inputs executed, or the seed that failed and how to replay it.
set -uo pipefail
. "$(dirname "$0")/config.sh"

secs=${SECONDS_TO_RUN:-60} seed=${SEED:-1}
obj=$OBJ_DIR
if [ "${SANITIZE:-1}" = 1 ] && [ -x "$BUILD_DIR/obj-san/tests/qtest/smmuv3-test" ]; then
    obj=$BUILD_DIR/obj-san
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
fi
exe=$obj/tests/qtest/smmuv3-test
[ -x "$exe" ] || die "$exe not built: run 'make build'"
log=$BUILD_DIR/test-logs/fuzz.log
mkdir -p "$(dirname "$log")"

note "fuzzing for ${secs}s from seed $seed on $(basename "$obj") (log $log)"
QTEST_QEMU_BINARY=$obj/qemu-system-aarch64 SMMUV3_FUZZ_SECONDS=$secs \
    SMMUV3_FUZZ_SEED=$seed bounded $((secs + 300)) \
    "$exe" --tap -p /aarch64/smmuv3/fuzz/timed >"$log" 2>&1
rc=$?
if [ $rc = 0 ] && ! grep -qE 'runtime error:|AddressSanitizer|UndefinedBehaviorSanitizer' "$log"; then
    grep '^fuzz: [0-9]' "$log"
    exit 0
fi
bad=$(grep -o '^fuzz: seed [0-9]*' "$log" | tail -n 1 | awk '{print $3}')
tail -n 30 "$log"
echo "FAILED at seed ${bad:-?} (exit $rc): reproduce with 'make fuzz SECONDS=1 SEED=${bad:-?}'"
exit 1
