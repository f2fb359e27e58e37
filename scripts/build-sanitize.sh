#!/bin/bash
# Configure (when needed) and build an ASan + UBSan QEMU, aarch64-softmmu
# only, from the work tree into $SAN_DIR (default $BUILD_DIR/obj-san),
# next to and independent of the normal build in $OBJ_DIR.
#   build-sanitize.sh [ninja targets...]   default: qemu-system-aarch64 and
#                                          every SMMU qtest the build knows
# Run the tests on it with check-sanitize.sh.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/build-lib.sh"

SAN_DIR=${SAN_DIR:-$BUILD_DIR/obj-san}

prepare_build

# The base options of the normal build, with the target list replaced:
# only aarch64 has the SMMUv3.
san_args=()
mapfile -t san_args < <(configure_args_for aarch64-softmmu --enable-asan --enable-ubsan)
qemu_configure "$WORK_TREE" "$SAN_DIR" "${san_args[*]}" "${san_args[@]}"

# The SMMU qtests this build defines (smmuv3-test, which holds the fuzz
# seeds too), as ninja names them.
smmu_qtests() {
    ninja -C "$SAN_DIR" -t targets all |
        sed -n 's|^\(tests/qtest/smmu[^/:.]*-test\): .*|\1|p' | sort -u
}

if [ $# = 0 ]; then
    # Let meson regenerate build.ninja first if a meson.build changed, so
    # that a newly added qtest is among the targets.
    ninja -C "$SAN_DIR" build.ninja >/dev/null || die "meson regeneration failed"
    mapfile -t tests < <(smmu_qtests)
    printf '%s\n' "${tests[@]}" | grep -qx tests/qtest/smmuv3-test ||
        die "ninja knows no tests/qtest/smmuv3-test target in $SAN_DIR"
    set -- qemu-system-aarch64 "${tests[@]}"
fi
note "ninja $*"
start=$(date +%s)
ninja -C "$SAN_DIR" "$@" || die "build failed"
note "sanitizer build done in $(( $(date +%s) - start )) s"
