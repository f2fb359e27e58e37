#!/bin/bash
# Prepare the guest of the boot tests: Debian's arm64 kernel and
# busybox-static (pinned in config.sh, downloaded once into the cache and
# checked against their SHA256) and the UEFI firmware (AAVMF, pinned in
# guest-lib.sh), unpacked into $GUEST_DIR, and an
# initramfs holding busybox, our init (tests/guest/init) and the modules
# the test loads.  Writes $GUEST_DIR/guest.env for guest-boot.sh.
# Your own kernel instead: GUEST_KERNEL=/path/to/Image [GUEST_KCONFIG=
# /path/to/.config] [GUEST_MODULES_DIR=dir with the .ko files to load].
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

DEB_CACHE=$CACHE_DIR/guest
mkdir -p "$DEB_CACHE" "$GUEST_DIR"

# first_set VAR: the first set ("name|pool-path=sha256,...") of array VAR
# whose .debs all download into the cache; sets set_name and deb_files.
first_set() {
    local -n sets=$1
    local s d f list tried=()
    for s in "${sets[@]}"; do
        IFS=, read -r -a list <<<"${s#*|}"
        set_name=${s%%|*} deb_files=()
        for d in "${list[@]}"; do
            f=$DEB_CACHE/$(basename "${d%%=*}")
            cached "$f" "${d#*=}" "$f.log" /usr/lib/apt/apt-helper -o APT::Sandbox::User=root \
                download-file "$DEBIAN_MIRROR/${d%%=*}" "$f" "SHA256:${d#*=}" || break
            deb_files+=("$f")
        done
        [ ${#deb_files[@]} != ${#list[@]} ] || return 0
        tried+=("$set_name")
        echo "   $set_name: not available, trying the next one" >&2
    done
    die "none of these could be downloaded from $DEBIAN_MIRROR: ${tried[*]}
(see $1 in scripts/config.sh, or scripts/guest-lib.sh for UEFI_FIRMWARE_SETS)"
}

# unpack DIR PATTERN...: DIR holds the members of deb_files matching the
# patterns (unpacked again when the debs or the patterns change).
unpack() {
    local dir=$1 deb
    shift
    [ "$(cat "$dir/.unpacked" 2>/dev/null)" != "${deb_files[*]} $*" ] || return 0
    fresh_dir "$dir"
    for deb in "${deb_files[@]}"; do
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards "$@" 2>/dev/null || true
    done
    echo "${deb_files[*]} $*" > "$dir/.unpacked"
}

if [ -n "${GUEST_KERNEL:-}" ]; then
    [ -f "$GUEST_KERNEL" ] || die "GUEST_KERNEL=$GUEST_KERNEL: no such file"
    kernel=$(realpath "$GUEST_KERNEL")
    kconfig=${GUEST_KCONFIG:-}
    kname="own kernel $kernel"
    moddir=${GUEST_MODULES_DIR:-}
else
    first_set GUEST_KERNEL_SETS
    kname=$set_name
    moddir=$GUEST_DIR/kernel/${kname%% *}
    ko=("${GUEST_MODULES[@]/%/.ko*}")
    unpack "$moddir" '*/vmlinuz*' '*/config*' '*/modules.builtin' "${ko[@]/#/*/}"
    kernel=$(find "$moddir" -name 'vmlinuz*' -type f | head -n 1)
    kconfig=$(find "$moddir" -name 'config*' -type f | head -n 1)
    [ -n "$kernel" ] || die "no vmlinuz in the packages of $kname"
fi
mods=()
for m in "${GUEST_MODULES[@]}"; do
    f=$([ -z "$moddir" ] || find "$moddir" -name "$m.ko*" -type f | head -n 1)
    [ -z "$f" ] || mods+=("$f")
done

# The kernel must have what the test relies on built in.
for o in "${GUEST_KCONFIG_Y[@]}"; do
    [ -z "$kconfig" ] || grep -qx "CONFIG_$o=y" "$kconfig" ||
        die "$kname: CONFIG_$o=y is missing from $kconfig"
done

first_set GUEST_BUSYBOX_SETS
bname=$set_name bdir=$GUEST_DIR/busybox
unpack "$bdir" '*/bin/busybox'
[ -x "$bdir/usr/bin/busybox" ] || die "no busybox in $bname"

first_set UEFI_FIRMWARE_SETS
uname=$set_name udir=$GUEST_DIR/uefi
unpack "$udir" '*/AAVMF_CODE.no-secboot.fd' '*/AAVMF_VARS.fd'
[ -f "$udir/usr/share/AAVMF/AAVMF_CODE.no-secboot.fd" ] || die "no AAVMF code in $uname"

# The initramfs: rebuilt on every run of this script (under a second;
# 'make guest', which make check and make demo run first), so that a
# changed init script or header reaches the next boot.
header=$WORK_TREE/include/hw/misc/pcie-pasid-testdev.h
[ -f "$header" ] || die "no $header: run 'make src'"
stage=$GUEST_DIR/stage
fresh_dir "$stage"
mkdir -p "$stage"/{bin,dev,etc,proc,sys,lib/modules,lib/pasidtest}
cp "$bdir/usr/bin/busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
install -m 755 "$TOP/tests/guest/init" "$stage/init"
install -m 644 "$TOP"/tests/guest/*.sh "$stage/lib/pasidtest/"
# The test device's register map for the init, from the one header that
# defines it: A_<REG> offsets, R_<REG>_<FIELD>_SHIFT/_MASK and the
# PASID_TESTDEV_* constants, as shell assignments.
awk '/^REG32\(/ { gsub(/[(),]/, " "); print "A_" $2 "=" $3 }
    /^ *FIELD\(/ { gsub(/[(),]/, " ")
        printf "R_%s_%s_SHIFT=%d R_%s_%s_MASK=0x%x\n", $2, $3, $4, $2, $3, (2 ^ $5 - 1) * 2 ^ $4 }
    /^#define PASID_TESTDEV_[A-Z0-9_]+ +[0-9]/ { sub(/[UL]+$/, "", $3); print $2 "=" $3 }
    /^ *PASID_TESTDEV_[A-Z0-9_]+ = [0-9]+,/ { sub(/,$/, "", $3); print $1 "=" $3 }' \
    "$header" > "$stage/etc/pcie-pasid-testdev.sh"
for f in "${mods[@]}"; do
    case "$f" in
    *.xz) xz -dc "$f" > "$stage/lib/modules/$(basename "$f" .xz)";;
    *.zst) zstd -qdc "$f" > "$stage/lib/modules/$(basename "$f" .zst)";;
    *.gz) gzip -dc "$f" > "$stage/lib/modules/$(basename "$f" .gz)";;
    *) cp "$f" "$stage/lib/modules/";;
    esac
done
initrd=$GUEST_DIR/initramfs.cpio.gz
cpio_gz "$stage" > "$initrd.tmp" && mv "$initrd.tmp" "$initrd"
write_guest_env "$GUEST_DIR/guest.env" "$kname" "$kernel" "$initrd"
printf "GUEST_UEFI_NAME='%s'\nGUEST_UEFI_DIR='%s'\n" "$uname" "$udir/usr/share/AAVMF" \
    >> "$GUEST_DIR/guest.env"
note "guest: kernel $kname, $bname, $uname, modules: $(for f in "${mods[@]}"; do basename "$f"; done | tr '\n' ' ')"
