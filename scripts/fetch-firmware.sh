#!/bin/bash
# The +ds source has no firmware blobs.  Machines that need one (x86 q35:
# SeaBIOS; some Arm boards: vbootrom) take it from Debian's own firmware
# packages, unpacked into $FIRMWARE_DIR (never installed on the host) and
# found through configure's --firmwarepath, as Debian's qemu build does.
set -euo pipefail
. "$(dirname "$0")/config.sh"

stamp=$FIRMWARE_DIR/.unpacked
want="${FIRMWARE_PKGS[*]}"
[ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && exit 0

mkdir -p "$CACHE_DIR/firmware"
cd "$CACHE_DIR/firmware"
rm -rf "$FIRMWARE_DIR"
mkdir -p "$FIRMWARE_DIR"
for spec in "${FIRMWARE_PKGS[@]}"; do
    # spec is NAME or NAME/SUITE: download the candidate of that suite.
    name=${spec%/*}
    suite=; [ "$spec" = "$name" ] || suite=${spec#*/}
    deb=$(ls "$name"_*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        note "downloading firmware package $spec"
        apt-get download ${suite:+-t "$suite"} "$name" >/dev/null 2>&1 ||
            die "could not download Debian package '$name'${suite:+ from $suite} (run 'make deps', which runs apt-get update)"
        deb=$(ls "$name"_*.deb | head -n 1)
    fi
    dpkg-deb -x "$deb" "$FIRMWARE_DIR"
    echo "$deb" >> "$FIRMWARE_DIR/PACKAGES"
done
echo "$want" > "$stamp"
note "firmware: $(tr '\n' ' ' < "$FIRMWARE_DIR/PACKAGES")"
