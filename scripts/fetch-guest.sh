#!/bin/bash
# Prepare the guest of the boot tests: Debian's arm64 kernel and
# busybox-static (pinned in config.sh, downloaded once into the cache and
# checked against their SHA256), unpacked into $GUEST_DIR, and an
# initramfs holding busybox, our init (tests/guest/init) and the modules
# the test loads.  Writes $GUEST_DIR/guest.env for guest-boot.sh.
#
# Your own kernel instead: GUEST_KERNEL=/path/to/Image [GUEST_KCONFIG=
# /path/to/.config] [GUEST_MODULES_DIR=dir with the .ko files to load].
set -euo pipefail
. "$(dirname "$0")/config.sh"

DEB_CACHE=$CACHE_DIR/guest
mkdir -p "$DEB_CACHE" "$GUEST_DIR"

# fetch_deb POOL_PATH=SHA256: print the cached .deb, downloading it first.
fetch_deb() {
    local pool=${1%%=*} sha=${1#*=}
    local f=$DEB_CACHE/${pool##*/}
    if [ -f "$f" ] && echo "$sha  $f" | sha256sum -c --status; then
        echo "$f"; return 0
    fi
    rm -f "$f" "$f.part"
    note "downloading $DEBIAN_MIRROR/$pool" >&2
    # apt's own downloader checks the hash before the file is kept.
    /usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file \
        "$DEBIAN_MIRROR/$pool" "$f.part" "SHA256:$sha" >&2 || {
        rm -f "$f.part"; return 1; }
    mv "$f.part" "$f"
    echo "$f"
}

# fetch_set SET: download every .deb of a "name|pool=sha,..." set; print
# their paths, one per line, or fail if any cannot be had.
fetch_set() {
    local parts d
    IFS=, read -r -a parts <<<"${1#*|}"
    for d in "${parts[@]}"; do
        fetch_deb "$d" || return 1
    done
}

# first_set VAR: the first set of array VAR whose files all download;
# sets set_name and deb_files.
first_set() {
    local -n sets=$1
    local s list tried=()
    for s in "${sets[@]}"; do
        if list=$(fetch_set "$s"); then
            set_name=${s%%|*}
            mapfile -t deb_files <<<"$list"
            return 0
        fi
        tried+=("${s%%|*}")
        echo "   ${s%%|*}: not available, trying the next one" >&2
    done
    die "none of these could be downloaded from $DEBIAN_MIRROR: ${tried[*]}
(see GUEST_KERNEL_SETS/GUEST_BUSYBOX_SETS in scripts/config.sh)"
}

# unpack DIR DEB... PATTERN...: extract the members matching the patterns.
unpack() {
    local dir=$1 deb
    shift
    local pats=() debs_=()
    for a in "$@"; do
        case "$a" in *.deb) debs_+=("$a");; *) pats+=("$a");; esac
    done
    for deb in "${debs_[@]}"; do
        dpkg-deb --fsys-tarfile "$deb" |
            tar -x -C "$dir" --wildcards "${pats[@]}" 2>/dev/null || true
    done
}

stage=$GUEST_DIR/stage
if [ -n "${GUEST_KERNEL:-}" ]; then
    [ -f "$GUEST_KERNEL" ] || die "GUEST_KERNEL=$GUEST_KERNEL: no such file"
    kernel=$(realpath "$GUEST_KERNEL")
    kconfig=${GUEST_KCONFIG:-}
    kname="own kernel $kernel"
    mods=()
    if [ -n "${GUEST_MODULES_DIR:-}" ]; then
        for m in "${GUEST_MODULES[@]}"; do
            f=$(find "$GUEST_MODULES_DIR" -name "$m.ko*" | head -n 1)
            [ -n "$f" ] && mods+=("$f")
        done
    fi
else
    first_set GUEST_KERNEL_SETS
    kname=$set_name
    kdir=$GUEST_DIR/kernel/${kname%% *}
    pats=('*/vmlinuz*' '*/config*' '*/modules.builtin')
    for m in "${GUEST_MODULES[@]}"; do pats+=("*/$m.ko*"); done
    # Unpacked again when the list of wanted files changes.
    if [ "$(cat "$kdir/.unpacked" 2>/dev/null)" != "${pats[*]}" ]; then
        rm -rf "$kdir"; mkdir -p "$kdir"
        unpack "$kdir" "${deb_files[@]}" "${pats[@]}"
        echo "${pats[*]}" > "$kdir/.unpacked"
    fi
    kernel=$(find "$kdir" -name 'vmlinuz*' -type f | head -n 1)
    kconfig=$(find "$kdir" -name 'config*' -type f | head -n 1)
    [ -n "$kernel" ] || die "no vmlinuz in the packages of $kname"
    mods=()
    for m in "${GUEST_MODULES[@]}"; do
        f=$(find "$kdir" -name "$m.ko*" -type f | head -n 1)
        [ -n "$f" ] && mods+=("$f")
    done
fi

# The kernel must have what the test relies on built in.
if [ -n "${kconfig:-}" ]; then
    for o in "${GUEST_KCONFIG_Y[@]}"; do
        grep -qx "CONFIG_$o=y" "$kconfig" ||
            die "$kname: CONFIG_$o=y is missing from $kconfig"
    done
fi

first_set GUEST_BUSYBOX_SETS
bname=$set_name
bdir=$GUEST_DIR/busybox
if [ ! -f "$bdir/.unpacked-${bname%% (*}" ]; then
    rm -rf "$bdir"; mkdir -p "$bdir"
    unpack "$bdir" "${deb_files[@]}" '*/bin/busybox'
    touch "$bdir/.unpacked-${bname%% (*}"
fi
[ -x "$bdir/usr/bin/busybox" ] || die "no busybox in $bname"

# The initramfs: rebuilt every time (under a second), so changes to the
# init script always reach the guest.
rm -rf "$stage"
mkdir -p "$stage"/{bin,dev,proc,sys,lib/modules}
cp "$bdir/usr/bin/busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
install -m 755 "$TOP/tests/guest/init" "$stage/init"
mkdir -p "$stage/lib/pasidtest"
for f in "$TOP"/tests/guest/*.sh; do
    [ -e "$f" ] && install -m 644 "$f" "$stage/lib/pasidtest/"
done
for f in "${mods[@]}"; do
    case "$f" in
    *.xz) xz -dc "$f" > "$stage/lib/modules/$(basename "$f" .xz)";;
    *.zst) zstd -qdc "$f" > "$stage/lib/modules/$(basename "$f" .zst)";;
    *.gz) gzip -dc "$f" > "$stage/lib/modules/$(basename "$f" .gz)";;
    *) cp "$f" "$stage/lib/modules/";;
    esac
done
initrd=$GUEST_DIR/initramfs.cpio.gz
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
    gzip -n -1 > "$initrd.tmp"
mv "$initrd.tmp" "$initrd"

cat > "$GUEST_DIR/guest.env" <<EOT
GUEST_KERNEL_NAME='$kname'
GUEST_KERNEL_IMAGE='$kernel'
GUEST_BUSYBOX_NAME='$bname'
GUEST_INITRD='$initrd'
EOT
note "guest: kernel $kname, $bname, modules: $(for f in "${mods[@]}"; do basename "$f"; done | tr '\n' ' ')"
