# Shared settings for the scripts in this directory (sourced, not run).
# One place for the pinned base, the paths and the build configuration;
# it brings in lib.sh, the functions they share.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$TOP/scripts/lib.sh"

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

# The guest for the boot tests (fetch-guest.sh): Debian's own arm64 kernel
# and busybox, downloaded from the pool by path and checked against these
# SHA256s - no arm64 architecture is added to the host's dpkg.  Tried in
# order: the first set whose files all download is used.  A set is
# "name|debs" with debs as pool-path=sha256, comma separated.
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
GUEST_KERNEL_SETS=(
    "7.2.13+deb14-arm64 (sid)|\
pool/main/l/linux-signed-arm64/linux-binary-7.2.13+deb14-arm64_7.2.13-1_arm64.deb=9043487c40a7b1c9ef421bbe3f578bf30f1004abd19f259e769f4ff8a26bb40b,\
pool/main/l/linux/linux-modules-7.2.13+deb14-arm64_7.2.13-1_arm64.deb=a9425ac3d90f86d92cf2469e1e8f6a985b3335403adfa1ce002d6996374de912,\
pool/main/l/linux/linux-base-7.2.13+deb14-arm64_7.2.13-1_arm64.deb=60e3b0f2a150562f1cf0f15830924cdd7ed8931bdc1a8c826c39c6dd4d33e056"
    "6.12.107+deb13-arm64 (trixie)|\
pool/main/l/linux/linux-image-6.12.107+deb13-arm64-unsigned_6.12.107-1_arm64.deb=2f986ade1a1336423adf2316ea89c3525dd4c05a646b2141626490ca2f388339"
)
GUEST_BUSYBOX_SETS=(
    "busybox-static 1:1.38.0-3+b1 (sid)|\
pool/main/b/busybox/busybox-static_1.38.0-3+b1_arm64.deb=968d1aa8f579fa1ac59c26afa365454369e13cf29848e6400b50028fed0ffda0"
    "busybox-static 1:1.37.0-6+b9 (trixie)|\
pool/main/b/busybox/busybox-static_1.37.0-6+b9_arm64.deb=c833be48abfa16bc19c4966ec93e289ff1ce5d2f1476cad3a57bd105378cd15c"
)
# What the boot test needs built in (=y), and the modules it loads.
GUEST_KCONFIG_Y=(ARM_SMMU_V3 PCI_PASID PCI_HOST_GENERIC VIRTIO_PCI
                 SERIAL_AMBA_PL011 DEVTMPFS BLK_DEV_INITRD RD_GZIP DEVMEM)
GUEST_MODULES=(virtio_blk pci-stub)
GUEST_DIR=${GUEST_DIR:-$BUILD_DIR/guest}

# The iommufd/VFIO PASID test's guest kernel (build-kernel.sh): Debian's
# arm64 kernel has no IOMMUFD, so Linux >= 6.15 (PASID attach through
# VFIO/iommufd) is built from the upstream tarball of Debian's 7.1.8-2
# source package (the only part the mirror serves; Debian's patches are not
# applied).  apt checks it against the signed Sources index, the SHA256
# here against a re-upload.
KERNEL_SRC_VERSION=7.1.8-2
KERNEL_ORIG=linux_7.1.8.orig.tar.xz
KERNEL_ORIG_SHA256=47f9ce629bc14dd96c16a6a6a8cae4f7f3c3ff6138e2f64befc7bdad426e9728
KERNEL_FRAGMENT=$TOP/tests/guest/kernel/iommufd.config
KERNEL_CROSS=aarch64-linux-gnu-
KERNEL_DIR=${KERNEL_DIR:-$BUILD_DIR/kernel}

# Debian's Python (the configure step, the migration test with QEMU's
# python/qemu package from the work tree, the benchmark).
PYTHON=/usr/bin/python3
QEMU_PYTHONPATH=$WORK_TREE/python

# Firmware for the machines the qtests start (build-lib.sh fetch_firmware):
# SeaBIOS/VGA BIOS and iPXE ROMs for x86, vbootrom for the npcm boards.
FIRMWARE_PKGS=(seabios ipxe-qemu qemu-system-data/bookworm-backports)

# aarch64 for the SMMU; x86_64 and riscv64 because their IOMMUs share the
# headers the series changes (memattrs.h, pci.h).
QEMU_TARGETS=${QEMU_TARGETS:-aarch64-softmmu,x86_64-softmmu,riscv64-softmmu}
QEMU_CONFIGURE_ARGS=(
    --target-list="$QEMU_TARGETS" --without-default-features --enable-slirp
    --enable-fdt=system --disable-install-blobs --disable-docs --python="$PYTHON"
    --firmwarepath="$FIRMWARE_DIR/usr/share/qemu:$FIRMWARE_DIR/usr/share/seabios:$FIRMWARE_DIR/usr/lib/ipxe/qemu"
)

# Fixed identity and dates make the base commit, and so every commit the
# scripts create, reproducible.
export GIT_BASE_IDENT_NAME="Debian qemu source"
export GIT_BASE_IDENT_EMAIL="qemu@packages.debian.org"
BASE_DATE="2026-01-01T00:00:00Z"

# The qtests of 'make check' and 'make check-quick', as
# target:binary[:filter] (see run-checks.sh; qos-test holds the tests of
# many devices, riscv-iommu's among them).  The AST2700 boards need
# ast27x0_bootrom.bin, which neither the +ds source nor any Debian package
# of bookworm ships: those machines are left out.
QTESTS=(aarch64:qom-test:'!/ast2700' aarch64:device-introspect-test
        aarch64:smmuv3-test aarch64:pasid-dma-test
        x86_64:intel-iommu-test x86_64:pasid-dma-test
        riscv64:qos-test:riscv-iommu riscv64:riscv-iommu-pasid-test)
# Ours: 'make check' runs their slow cases too (check-quick does not)
SLOW_QTESTS=(smmuv3-test pasid-dma-test riscv-iommu-pasid-test)

# The emulators and the qtests 'make check' runs, as ninja targets
default_build_targets() {
    local t q
    for t in ${QEMU_TARGETS//,/ }; do echo "qemu-system-${t%-softmmu}"; done
    for q in "${QTESTS[@]}"; do q=${q#*:}; echo "tests/qtest/${q%%:*}"; done | sort -u
}
