#!/bin/bash
# Configure (when needed) and build QEMU from the work tree into $OBJ_DIR:
# the emulators and the qtests we run.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/build-lib.sh"

prepare_build
qemu_configure "$WORK_TREE" "$OBJ_DIR" "${QEMU_CONFIGURE_ARGS[*]}" "${QEMU_CONFIGURE_ARGS[@]}"
mapfile -t targets < <(default_build_targets)
ninja_build "$OBJ_DIR" patched "${targets[@]}"
