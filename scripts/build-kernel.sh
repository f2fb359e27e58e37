#!/bin/bash
# The guest for the iommufd/VFIO PASID test (scripts/guest-vfio.sh):
#  - Linux from Debian's linux source package (KERNEL_SRC_VERSION in
#    config.sh), configured as "allnoconfig" plus
#    tests/guest/kernel/iommufd.config and cross-compiled for arm64;
#  - tests/guest/vfio-pasid.c, static, against that kernel's uAPI headers;
#  - an initramfs: the stock boot test's (make guest) plus that program.
# Writes $KERNEL_DIR/guest.env for guest-vfio.sh.  The kernel is rebuilt
# only when the version, the config fragment or the compiler changes.
set -euo pipefail
. "$(dirname "$0")/config.sh"

[ -f "$GUEST_DIR/guest.env" ] || die "no stock guest prepared: run 'make guest'"
. "$GUEST_DIR/guest.env"
command -v "${KERNEL_CROSS}gcc" >/dev/null ||
    die "${KERNEL_CROSS}gcc missing: run 'make deps' (gcc-aarch64-linux-gnu)"

upstream=${KERNEL_ORIG#linux_}
upstream=${upstream%.orig.tar.xz}
src=$KERNEL_DIR/linux-$upstream
obj=$KERNEL_DIR/obj
image=$obj/arch/arm64/boot/Image
jobs=$(nproc)

# --- source: Debian's tarball, checked ---------------------------------
tarball=$CACHE_DIR/kernel/$KERNEL_ORIG
sha_ok() { echo "$KERNEL_ORIG_SHA256  $tarball" | sha256sum -c --status; }
if [ ! -f "$tarball" ] || ! sha_ok; then
    mkdir -p "$CACHE_DIR/kernel"
    rm -f "$tarball"
    note "kernel: apt-get source --download-only --tar-only linux=$KERNEL_SRC_VERSION"
    (cd "$CACHE_DIR/kernel" &&
        apt-get source --download-only --tar-only "linux=$KERNEL_SRC_VERSION" \
            >"$CACHE_DIR/kernel/apt-get-source.log" 2>&1) ||
        die "Debian's linux source $KERNEL_SRC_VERSION could not be fetched" \
            "(log: $CACHE_DIR/kernel/apt-get-source.log)." \
            "'apt-cache showsrc linux | grep ^Version' lists what the mirror" \
            "has; pin a served version >= 6.15 in scripts/config.sh" \
            "(KERNEL_SRC_VERSION, KERNEL_ORIG, KERNEL_ORIG_SHA256)."
    [ -f "$tarball" ] || die "apt-get source gave no $KERNEL_ORIG"
    sha_ok || die "$tarball: SHA256 is not $KERNEL_ORIG_SHA256"
fi
if [ ! -f "$src/.unpacked" ]; then
    note "kernel: unpacking $KERNEL_ORIG"
    rm -rf "$src"; mkdir -p "$KERNEL_DIR"
    tar -xf "$tarball" -C "$KERNEL_DIR"
    [ -f "$src/Makefile" ] || die "$KERNEL_ORIG did not unpack to $src"
    touch "$src/.unpacked"
fi

# --- kernel: configure and build when the key changed -------------------
kmake() {
    make -C "$src" O="$obj" ARCH=arm64 CROSS_COMPILE="$KERNEL_CROSS" "$@"
}
key=$( { echo "$KERNEL_SRC_VERSION"; cat "$KERNEL_FRAGMENT"
         "${KERNEL_CROSS}gcc" --version | head -n 1; } | sha256sum | cut -c1-16)
if [ "$(cat "$obj/.pasid-key" 2>/dev/null)" != "$key" ] || [ ! -f "$image" ]; then
    note "kernel: building linux $upstream for arm64 with $jobs jobs" \
         "(log: $KERNEL_DIR/build.log)"
    rm -rf "$obj"; mkdir -p "$obj"
    start=$(date +%s)
    {
        kmake KCONFIG_ALLCONFIG="$KERNEL_FRAGMENT" allnoconfig &&
        kmake -j"$jobs" Image headers
    } >"$KERNEL_DIR/build.log" 2>&1 || {
        tail -n 30 "$KERNEL_DIR/build.log"
        die "kernel build failed (log: $KERNEL_DIR/build.log)"
    }
    # Kconfig drops a symbol whose dependencies are not met: every line of
    # the fragment must have survived.
    missing=$(grep '^CONFIG_' "$KERNEL_FRAGMENT" |
                  grep -vxF -f "$obj/.config" || true)
    [ -z "$missing" ] || die "not in the kernel's .config:" $missing
    echo "$(( $(date +%s) - start ))" > "$obj/.build-seconds"
    echo "$key" > "$obj/.pasid-key"
    note "kernel: built in $(cat "$obj/.build-seconds") s"
else
    note "kernel: linux $upstream up to date (built in $(cat "$obj/.build-seconds" 2>/dev/null || echo ?) s)"
fi

# --- the test program and the initramfs (always: about a second) --------
bin=$KERNEL_DIR/initramfs-extra
rm -rf "$bin"; mkdir -p "$bin/bin"
"${KERNEL_CROSS}gcc" -static -O2 -Wall -Wextra -Werror \
    -I"$obj/usr/include" -o "$bin/bin/vfio-pasid" "$TOP/tests/guest/vfio-pasid.c"
# The kernel unpacks concatenated cpio archives in order: the stock
# initramfs (busybox, init, tests/guest/*.sh), then our program.
initrd=$KERNEL_DIR/initramfs.cpio.gz
{
    cat "$GUEST_INITRD"
    (cd "$bin" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
        gzip -n -1
} > "$initrd.tmp"
mv "$initrd.tmp" "$initrd"

cat > "$KERNEL_DIR/guest.env" <<EOT
GUEST_KERNEL_NAME='linux $upstream (Debian source $KERNEL_SRC_VERSION, iommufd.config)'
GUEST_KERNEL_IMAGE='$image'
GUEST_BUSYBOX_NAME='$GUEST_BUSYBOX_NAME'
GUEST_INITRD='$initrd'
EOT
note "kernel: $image, initramfs $initrd"
