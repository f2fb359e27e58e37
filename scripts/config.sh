# Shared settings for the scripts in this directory (sourced, not run).
# One place for the pinned base, the paths and the build configuration.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The base: Debian's source package, pinned.  The .dsc hash pins the exact
# upload (it lists the hashes of the tarballs, which dpkg-source checks).
QEMU_SRC_PKG=qemu
QEMU_SRC_VERSION=1:10.2.2+ds-1
QEMU_DSC=qemu_10.2.2+ds-1.dsc
QEMU_DSC_SHA256=f1684b3aa5ec500c3389d346c6501dee45041ea91656c6556d4da9023b7987dd
QEMU_UPSTREAM_VERSION=10.2.2
BASE_TAG=base-debian-10.2.2+ds-1

BUILD_DIR=${BUILD_DIR:-$TOP/build}
CACHE_DIR=${CACHE_DIR:-$BUILD_DIR/cache}
WORK_TREE=${WORK_TREE:-$BUILD_DIR/qemu}
OBJ_DIR=${OBJ_DIR:-$BUILD_DIR/obj}
PATCH_DIR=$TOP/patches
FIRMWARE_DIR=${FIRMWARE_DIR:-$BUILD_DIR/firmware}

# Firmware for the machines the qtests start (see fetch-firmware.sh):
# SeaBIOS/VGA BIOS and iPXE ROMs for x86, vbootrom for the npcm boards.
FIRMWARE_PKGS=(seabios ipxe-qemu qemu-system-data/bookworm-backports)

# aarch64 for the SMMU; x86_64 and riscv64 because their IOMMUs share the
# headers the series changes (memattrs.h, pci.h).
QEMU_TARGETS=${QEMU_TARGETS:-aarch64-softmmu,x86_64-softmmu,riscv64-softmmu}
QEMU_CONFIGURE_ARGS=(
    --target-list="$QEMU_TARGETS"
    --without-default-features
    --enable-slirp
    --enable-fdt=system
    --disable-install-blobs
    --disable-docs
    --python=/usr/bin/python3
    --firmwarepath="$FIRMWARE_DIR/usr/share/qemu:$FIRMWARE_DIR/usr/share/seabios:$FIRMWARE_DIR/usr/lib/ipxe/qemu"
)

# Fixed identity and dates make the base commit, and so every commit the
# scripts create, reproducible.
export GIT_BASE_IDENT_NAME="Debian qemu source"
export GIT_BASE_IDENT_EMAIL="qemu@packages.debian.org"
BASE_DATE="2026-01-01T00:00:00Z"

die() { echo "ERROR: $*" >&2; exit 1; }
note() { echo "== $*"; }

# The qtests run by 'make check', as target:binary[:filter] - with a
# filter, only the test paths containing it run (qos-test holds the tests
# of many devices; riscv-iommu-test is one of them).
# The AST2700 boards need ast27x0_bootrom.bin, which neither the +ds source
# nor any Debian package of bookworm ships: those machines are left out.
QTESTS=(
    aarch64:qom-test:'!/ast2700'
    aarch64:device-introspect-test
    aarch64:smmuv3-test
    x86_64:intel-iommu-test
    riscv64:qos-test:riscv-iommu
)

default_build_targets() {
    local t q
    for t in ${QEMU_TARGETS//,/ }; do
        echo "qemu-system-${t%-softmmu}"
    done
    for q in "${QTESTS[@]}"; do
        q=${q#*:}
        echo "tests/qtest/${q%%:*}"
    done | sort -u
}
