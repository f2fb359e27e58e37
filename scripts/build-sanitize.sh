#!/bin/bash
# Configure (when needed) and build an ASan + UBSan QEMU, aarch64-softmmu
# with the virt machine's devices only (the SMMU qtests start nothing else:
# build-lib.sh virt_devices_args), from the work tree into $SAN_DIR
# (default $BUILD_DIR/obj-san), next to the normal build:
# qemu-system-aarch64 and every SMMU qtest the build knows.  check-sanitize.sh runs the tests on it.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/build-lib.sh"

SAN_DIR=${SAN_DIR:-$BUILD_DIR/obj-san}
prepare_build
mapfile -t devices < <(virt_devices_args "$WORK_TREE")
mapfile -t san_args < <(configure_args_for aarch64-softmmu --enable-asan --enable-ubsan "${devices[@]}")
qemu_configure "$WORK_TREE" "$SAN_DIR" "${san_args[*]}" "${san_args[@]}"
# Meson regenerates build.ninja first if a meson.build changed, so that a
# newly added qtest is among the targets.
ninja -C "$SAN_DIR" build.ninja >/dev/null || die "meson regeneration failed"
mapfile -t tests < <(smmu_qtests "$SAN_DIR")
printf '%s\n' "${tests[@]}" | grep -qx tests/qtest/smmuv3-test ||
    die "ninja knows no tests/qtest/smmuv3-test target in $SAN_DIR"
ninja_build "$SAN_DIR" sanitizer qemu-system-aarch64 "${tests[@]}"
