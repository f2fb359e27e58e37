#!/bin/bash
# The guest for the iommufd/VFIO PASID test (scripts/guest-vfio.sh):
#  - Linux from Debian's linux source package (KERNEL_SRC_VERSION in
#    config.sh), configured as "allnoconfig" plus
#    tests/guest/kernel/iommufd.config and cross-compiled for arm64;
#  - tests/guest/vfio-pasid.c, static, against that kernel's uAPI headers;
#  - an initramfs: the stock boot test's (make guest) plus that program.
# Writes $KERNEL_DIR/guest.env for guest-vfio.sh.  The kernel is rebuilt
# only when the version, the config fragment or the compiler changes; the
# source is only fetched then.
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

# --- kernel: rebuilt only when what goes into it changed ---------------
[ -f "$KERNEL_FRAGMENT" ] || die "missing $KERNEL_FRAGMENT"
cc_version=$("${KERNEL_CROSS}gcc" -dumpfullversion)
# (bump "recipe" when the way the kernel is built below changes)
key=$( { echo "recipe 1: allnoconfig + fragment, Image headers"
         echo "$KERNEL_SRC_VERSION $KERNEL_ORIG_SHA256 gcc $cc_version"
         cat "$KERNEL_FRAGMENT"; } | sha256sum | cut -c1-16)
kmake() {
    make -C "$src" O="$obj" ARCH=arm64 CROSS_COMPILE="$KERNEL_CROSS" "$@"
}

# Debian's tarball, fetched once and checked
fetch_source() {
    local tarball=$CACHE_DIR/kernel/$KERNEL_ORIG
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
}

build_kernel() {
    local start=$SECONDS missing
    note "kernel: building linux $upstream for arm64 with $jobs jobs" \
         "(log: $KERNEL_DIR/build.log)"
    rm -rf "$obj"; mkdir -p "$obj"
    kmake KCONFIG_ALLCONFIG="$KERNEL_FRAGMENT" allnoconfig \
        >"$KERNEL_DIR/build.log" 2>&1 || {
        tail -n 30 "$KERNEL_DIR/build.log"; die "kernel configuration failed"; }
    # Kconfig drops a symbol whose dependencies are not met: every line of
    # the fragment must have survived, or the build is not worth starting.
    missing=$(grep '^CONFIG_' "$KERNEL_FRAGMENT" | grep -vxF -f "$obj/.config" || true)
    [ -z "$missing" ] || die "not in the kernel's .config (dependencies?):" $missing
    kmake -j"$jobs" Image headers >>"$KERNEL_DIR/build.log" 2>&1 || {
        tail -n 30 "$KERNEL_DIR/build.log"
        die "kernel build failed (log: $KERNEL_DIR/build.log)"; }
    echo $((SECONDS - start)) > "$obj/.build-seconds"
    echo "$key" > "$obj/.pasid-key"
    note "kernel: built in $(cat "$obj/.build-seconds") s"
}

if [ "$(cat "$obj/.pasid-key" 2>/dev/null)" = "$key" ] && [ -f "$image" ]; then
    note "kernel: linux $upstream up to date (built in $(cat "$obj/.build-seconds") s)"
else
    fetch_source
    build_kernel
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
