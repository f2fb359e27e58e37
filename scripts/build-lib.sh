# shellcheck shell=bash
# Shared by the build scripts (sourced after config.sh): one place for
# configuring a QEMU build directory and pointing it at the firmware.

# fetch_firmware: the +ds source has no firmware blobs.  Machines that
# need one (x86 q35: SeaBIOS; some Arm boards: vbootrom) take it from
# Debian's firmware packages (FIRMWARE_PKGS, NAME or NAME/SUITE), unpacked
# into $FIRMWARE_DIR - never installed on the host - and found through
# configure's --firmwarepath, as Debian's qemu build does.
fetch_firmware() (
    local spec name suite deb
    [ "$(cat "$FIRMWARE_DIR/.unpacked" 2>/dev/null)" != "${FIRMWARE_PKGS[*]}" ] || exit 0
    mkdir -p "$CACHE_DIR/firmware"
    cd "$CACHE_DIR/firmware" || exit
    fresh_dir "$FIRMWARE_DIR"
    for spec in "${FIRMWARE_PKGS[@]}"; do
        name=${spec%/*} suite=
        [ "$spec" = "$name" ] || suite=${spec#*/}
        deb=$(ls "$name"_*.deb 2>/dev/null | head -n 1 || true)
        if [ -z "$deb" ]; then
            note "downloading firmware package $spec"
            apt-get download ${suite:+-t "$suite"} "$name" >/dev/null 2>&1 ||
                die "could not download Debian package $spec (run 'make deps', which runs apt-get update)"
            deb=$(ls "$name"_*.deb | head -n 1)
        fi
        dpkg-deb -x "$deb" "$FIRMWARE_DIR"
        echo "$deb" >> "$FIRMWARE_DIR/PACKAGES"
    done
    echo "${FIRMWARE_PKGS[*]}" > "$FIRMWARE_DIR/.unpacked"
    note "firmware: $(tr '\n' ' ' < "$FIRMWARE_DIR/PACKAGES")"
)

# prepare_build: the firmware and ccache, for any build of the work tree.
# QEMU's configure names the compiler 'cc' in meson's cross file, so meson
# does not add ccache by itself: Debian's masquerade directory does it.
# Relative paths in ccache's hash: clones in other folders share the cache.
prepare_build() {
    [ -d "$WORK_TREE/.git" ] || die "no work tree: run 'make src'"
    fetch_firmware
    command -v ccache >/dev/null || die "ccache missing: run 'make deps'"
    export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
    export PATH=/usr/lib/ccache:$PATH
    export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$TOP}
    # -g puts the build directory in the hash unless told otherwise: a
    # fresh clone would miss every time (its debug info names the first
    # clone's directory instead, which nothing here reads).
    export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
}

# qemu_configure SRC OBJ STAMP ARGS...: configure SRC into OBJ with ARGS,
# only when OBJ has no build or was configured with another STAMP (the
# arguments, plus whatever else must force a fresh configure); meson
# notices changes to meson.build files by itself.
qemu_configure() {
    local src=$1 obj=$2 stamp=$3
    shift 3
    mkdir -p "$obj"
    if [ ! -f "$obj/build.ninja" ] ||
       [ "$(cat "$obj/.pasid-configure-args" 2>/dev/null)" != "$stamp" ]; then
        note "configure $obj: $*"
        rm -rf "$obj"
        mkdir -p "$obj"
        (cd "$obj" && "$src/configure" "$@" >configure.log 2>&1) ||
            { tail -n 30 "$obj/configure.log"; die "configure failed (log: $obj/configure.log)"; }
        echo "$stamp" > "$obj/.pasid-configure-args"
    fi
    # A QEMU run from its build tree looks for data, firmware included,
    # under qemu-bundle/ + the configured path: point that at the firmware.
    local bundle_fw="$obj/qemu-bundle$FIRMWARE_DIR"
    if [ ! -L "$bundle_fw" ]; then
        mkdir -p "$(dirname "$bundle_fw")"
        ln -sfn "$FIRMWARE_DIR" "$bundle_fw"
    fi
}

# QEMU_CONFIGURE_ARGS but --target-list=$1, then the extra arguments
configure_args_for() {
    local a
    for a in "${QEMU_CONFIGURE_ARGS[@]}"; do
        case "$a" in --target-list=*) ;; *) echo "$a";; esac
    done
    printf '%s\n' "--target-list=$1"
    shift
    printf '%s\n' "$@"
}

# virt_devices_args SRC: the configure arguments of an aarch64 build that
# only ever starts the virt machine (the sanitizer's SMMU qtests, the
# unpatched and benchmark baselines): QEMU's minimal.mak (virt and what it
# selects) plus the devices those runs add to it, instead of every Arm
# board - about a third fewer files to compile.  configure takes only a
# name in SRC's configs/devices, so the list is written there (and kept out
# of git status); the test device only where SRC has it.  CXL: virt
# selects ACPI_CXL, whose hw/acpi/cxl.c needs hw/cxl and the CXL type 3
# device to link in 10.2.2 (its stubs lack cxl_fmws_get_all_sorted()).
virt_devices_args() {
    local src=$1 name=pasid-virt exclude
    {
        echo "# written by scripts/build-lib.sh virt_devices_args"
        echo "include minimal.mak"
        printf 'CONFIG_%s=y\n' VIRTIO_PCI VIRTIO_BLK VIRTIO_NET PCIE_PORT \
            PXB CXL CXL_MEM_DEVICE
        ! grep -qx 'config PCIE_PASID_TESTDEV' "$src/hw/misc/Kconfig" ||
            echo "CONFIG_PCIE_PASID_TESTDEV=y"
    } > "$src/configs/devices/aarch64-softmmu/$name.mak"
    exclude=$(git -C "$src" rev-parse --git-path info/exclude)
    [[ $exclude = /* ]] || exclude=$src/$exclude
    mkdir -p "$(dirname "$exclude")"
    grep -qx "/configs/devices/aarch64-softmmu/$name.mak" "$exclude" 2>/dev/null ||
        echo "/configs/devices/aarch64-softmmu/$name.mak" >> "$exclude"
    printf '%s\n' --without-default-devices "--with-devices-aarch64=$name"
}

# fresh_worktree DIR COMMIT: (re)create DIR as a detached worktree of the
# work tree at COMMIT.  Only this worktree is touched ('worktree prune'
# drops the records of worktrees whose directory is gone, nothing else).
fresh_worktree() {
    git -C "$WORK_TREE" worktree remove --force "$1" 2>/dev/null || true
    rm -rf "$1"
    git -C "$WORK_TREE" worktree prune
    git -C "$WORK_TREE" worktree add -q --detach "$1" "$2"
}

# ninja_build OBJ WHAT TARGETS...: build TARGETS in OBJ, saying how long.
ninja_build() {
    local obj=$1 what=$2 start=$SECONDS
    shift 2
    note "ninja ($what) $*"
    ninja -C "$obj" "$@" || die "$what build failed"
    note "$what build done in $((SECONDS - start)) s: $obj"
}

# smmu_qtests OBJ: the SMMU qtests (smmuv3-test, with the fuzz seeds) the
# build in OBJ defines, as ninja names them.
smmu_qtests() {
    ninja -C "$1" -t targets all |
        sed -n 's|^\(tests/qtest/smmu[^/:.]*-test\): .*|\1|p' | sort -u
}
