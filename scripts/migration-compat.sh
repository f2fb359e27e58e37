#!/bin/bash
# 'make check-migration': migration compatibility of the series with
# unpatched QEMU 10.2.2 ($BUILD_DIR/obj-base, built when missing) - see
# migration-compat.py for the cases; this prepares what they need and
# counts their verdicts.
#   migration-compat.sh [CASE...]     (default: all)
# MIGRATION_TIMEOUT: each wait (300 s); MIGRATION_KEEP=1 keeps the saved
# states (~100 MiB each).  Logs: $BUILD_DIR/test-logs/migration/.
set -uo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

UNPATCHED=${BASE_OBJ:-$BUILD_DIR/obj-base}/qemu-system-aarch64
each_wait=${MIGRATION_TIMEOUT:-300}
out=$BUILD_DIR/test-logs/migration disk=$GUEST_DIR/disk.img
need_qemu
guest_env "$GUEST_DIR/guest.env" guest
[ -x "$UNPATCHED" ] || bash "$TOP/scripts/build.sh" unpatched || exit
fresh_dir "$out"
random_disk "$disk" 16

note "migration: patched $QEMU"
note "           unpatched $UNPATCHED"
note "guest $GUEST_KERNEL_NAME, logs ${out#"$TOP/"}/"
# The cases bound each wait; this bounds the whole run (a QMP command
# that never answers).
verdicts "" < <(PYTHONPATH=$QEMU_PYTHONPATH bounded $((10 * each_wait)) \
    "$PYTHON" "$TOP/scripts/migration-compat.py" \
    --patched "$QEMU" --unpatched "$UNPATCHED" --kernel "$GUEST_KERNEL_IMAGE" \
    --initrd "$GUEST_INITRD" --disk "$disk" --out "$out" \
    --checker "$WORK_TREE/scripts/vmstate-static-checker.py" --timeout "$each_wait" "$@" 2>&1)
wait $! || result FAIL migration-compat.py "exit status $?"
[ "${MIGRATION_KEEP:-0}" = 1 ] || rm -f "$out"/*.state
summary
