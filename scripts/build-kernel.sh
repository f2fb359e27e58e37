#!/bin/bash
# The guest of guest-vfio.sh and guest-sva.sh, in $KERNEL_DIR/guest.env:
# Linux from Debian's source (config.sh), "allnoconfig" plus
# tests/guest/kernel/iommufd.config, cross-compiled for arm64 - rebuilt
# (and its source fetched) only when the version, the fragment or the
# compiler change; against its uAPI headers and the work tree's test
# device header (with tests/guest/shim/'s REG32()/FIELD()), the test
# programs tests/guest/vfio-pasid.c, vsmmu.c and sva-test.c, the SVA driver
# tests/guest/sva/pasid_sva.ko and Linux's VFIO selftests with our driver
# for the test device; the stock initramfs plus those.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

guest_env "$GUEST_DIR/guest.env" guest
command -v "${KERNEL_CROSS}gcc" >/dev/null ||
    die "${KERNEL_CROSS}gcc missing: run 'make deps' (gcc-aarch64-linux-gnu)"
[ -f "$KERNEL_FRAGMENT" ] || die "missing $KERNEL_FRAGMENT"

upstream=${KERNEL_ORIG#linux_}
upstream=${upstream%.orig.tar.xz}
src=$KERNEL_DIR/linux-$upstream obj=$KERNEL_DIR/obj log=$KERNEL_DIR/build.log
image=$obj/arch/arm64/boot/Image
kmake() { make -C "$src" O="$obj" ARCH=arm64 CROSS_COMPILE="$KERNEL_CROSS" "$@" >>"$log" 2>&1; }

# --- kernel: rebuilt only when what goes into it changed ---------------
cc_version=$("${KERNEL_CROSS}gcc" -dumpfullversion)
# (bump "recipe" when the way the kernel is built below changes)
key=$( { echo "recipe 2: allnoconfig + fragment, Image modules headers"
         echo "$KERNEL_SRC_VERSION $KERNEL_ORIG_SHA256 gcc $cc_version"
         cat "$KERNEL_FRAGMENT"; } | sha256sum | cut -c1-16)
if [ "$(cat "$obj/.pasid-key" 2>/dev/null)" = "$key" ] && [ -f "$image" ]; then
    note "kernel: linux $upstream up to date (built in $(cat "$obj/.build-seconds") s)"
else
    # Debian's tarball, fetched once and checked
    tarball=$CACHE_DIR/kernel/$KERNEL_ORIG fetch_log=$CACHE_DIR/kernel/apt-get-source.log
    cached "$tarball" "$KERNEL_ORIG_SHA256" "$fetch_log" \
        apt-get source --download-only --tar-only "linux=$KERNEL_SRC_VERSION" ||
        die "no $KERNEL_ORIG with the pinned SHA256 from Debian's linux source" \
            "$KERNEL_SRC_VERSION (log: $fetch_log). 'apt-cache showsrc linux | grep ^Version'" \
            "lists what the mirror has; pin a served version >= 6.15 in" \
            "scripts/config.sh (KERNEL_SRC_VERSION, KERNEL_ORIG, KERNEL_ORIG_SHA256)."
    if [ ! -f "$src/.unpacked" ]; then
        note "kernel: unpacking $KERNEL_ORIG"
        rm -rf "$src"
        mkdir -p "$KERNEL_DIR"
        tar -xf "$tarball" -C "$KERNEL_DIR"
        [ -f "$src/Makefile" ] || die "$KERNEL_ORIG did not unpack to $src"
        touch "$src/.unpacked"
    fi

    start=$SECONDS
    note "kernel: building linux $upstream for arm64 with $(nproc) jobs (log: $log)"
    fresh_dir "$obj"
    : > "$log"
    kmake KCONFIG_ALLCONFIG="$KERNEL_FRAGMENT" allnoconfig || {
        tail -n 30 "$log"; die "kernel configuration failed"; }
    # Kconfig drops a symbol whose dependencies are not met: every line of
    # the fragment must have survived, or the build is not worth starting.
    missing=$(grep '^CONFIG_' "$KERNEL_FRAGMENT" | grep -vxF -f "$obj/.config" || true)
    [ -z "$missing" ] || die "not in the kernel's .config (dependencies?):" $missing
    kmake -j"$(nproc)" Image modules headers || {
        tail -n 30 "$log"; die "kernel build failed (log: $log)"; }
    echo $((SECONDS - start)) > "$obj/.build-seconds"
    echo "$key" > "$obj/.pasid-key"
    note "kernel: built in $(cat "$obj/.build-seconds") s"
fi

# --- the test programs, the SVA driver, the initramfs (always: seconds) --
bin=$KERNEL_DIR/initramfs-extra
fresh_dir "$bin/bin"
# The test device's register header, with the shim's REG32()/FIELD()
testdev_include=(-iquote "$TOP/tests/guest/shim" -iquote "$WORK_TREE/include")
# vfio-pasid and vsmmu drive the device through VFIO with vfio-lib.c
for prog in vfio-pasid:vfio-lib vsmmu:vfio-lib sva-test; do
    IFS=: read -ra srcs <<< "$prog"
    srcs=("${srcs[@]/#/$TOP/tests/guest/}")
    "${KERNEL_CROSS}gcc" -static -O2 -Wall -Wextra -Werror "${testdev_include[@]}" \
        -iquote "$TOP/tests/guest" -I"$obj/usr/include" \
        -o "$bin/bin/${prog%%:*}" "${srcs[@]/%/.c}"
done
# Linux's VFIO selftests (tools/testing/selftests/vfio) with our libvfio
# driver for the test device dropped in: added to the source tree's copy
# of them (once: the edits check for themselves) and listed among
# libvfio's drivers, built static against the uAPI headers above.
st=$src/tools/testing/selftests/vfio
mkdir -p "$st/lib/drivers/pasid_testdev"
cp "$TOP/tests/guest/vfio-selftests/pasid_testdev.c" "$st/lib/drivers/pasid_testdev/"
grep -q pasid_testdev "$st/lib/libvfio.mk" ||
    sed -i '/^LIBVFIO_C += vfio_pci_driver.c$/a LIBVFIO_C += drivers/pasid_testdev/pasid_testdev.c' \
        "$st/lib/libvfio.mk"
grep -q pasid_testdev_ops "$st/lib/vfio_pci_driver.c" ||
    sed -i 's/^static struct vfio_pci_driver_ops \*driver_ops\[\] = {$/extern struct vfio_pci_driver_ops pasid_testdev_ops;\n\n&\n\t\&pasid_testdev_ops,/' \
        "$st/lib/vfio_pci_driver.c"
if ! grep -q pasid_testdev "$st/lib/libvfio.mk" ||
   ! grep -q '&pasid_testdev_ops,' "$st/lib/vfio_pci_driver.c"; then
    die "could not add the test device's driver to $st/lib"
fi
fresh_dir "$KERNEL_DIR/vfio-selftests"
make -C "$st" ARCH=arm64 CROSS_COMPILE="$KERNEL_CROSS" OUTPUT="$KERNEL_DIR/vfio-selftests" \
    KHDR_INCLUDES="-isystem $obj/usr/include" USERLDFLAGS=-static \
    EXTRA_CFLAGS="${testdev_include[*]}" >>"$log" 2>&1 || {
    tail -n 30 "$log"; die "VFIO selftests build failed (log: $log)"; }
mkdir -p "$bin/bin/vfio-selftests"
find "$KERNEL_DIR/vfio-selftests" -maxdepth 1 -type f -name 'vfio_*_test' \
    -exec cp -t "$bin/bin/vfio-selftests/" {} +
# An external module, built in a copy (Kbuild writes next to the source);
# tests/guest/sva.sh loads it from /lib/sva, out of init's way.
mod=$KERNEL_DIR/sva-module
fresh_dir "$mod"
cp "$TOP"/tests/guest/sva/* "$mod/"
kmake M="$mod" W=1 \
    PASID_TESTDEV_INCLUDE="-I$TOP/tests/guest/shim -I$WORK_TREE/include" modules || {
    tail -n 30 "$log"; die "pasid_sva.ko build failed (log: $log)"; }
mkdir -p "$bin/lib/sva"
cp "$mod/pasid_sva.ko" "$bin/lib/sva/"
# The kernel unpacks concatenated cpio archives in order: the stock
# initramfs (busybox, init, tests/guest/*.sh), then our program.
initrd=$KERNEL_DIR/initramfs.cpio.gz
{ cat "$GUEST_INITRD"; cpio_gz "$bin"; } > "$initrd.tmp" && mv "$initrd.tmp" "$initrd"
write_guest_env "$KERNEL_DIR/guest.env" \
    "linux $upstream (Debian source $KERNEL_SRC_VERSION, iommufd.config)" "$image" "$initrd"
note "kernel: $image, initramfs $initrd"
