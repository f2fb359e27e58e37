#!/bin/bash
# Download Debian's qemu source package at the pinned version into the
# cache (once) and check it.  Prints nothing to do when already cached.
set -euo pipefail
. "$(dirname "$0")/config.sh"

mkdir -p "$CACHE_DIR"
cd "$CACHE_DIR"

dsc_ok() {
    [ -f "$QEMU_DSC" ] &&
        echo "$QEMU_DSC_SHA256  $QEMU_DSC" | sha256sum -c --status
}

if ! dsc_ok; then
    note "fetching $QEMU_SRC_PKG=$QEMU_SRC_VERSION with apt-get source"
    rm -f "$QEMU_DSC"
    if ! apt-get source --download-only "$QEMU_SRC_PKG=$QEMU_SRC_VERSION" \
            >fetch.log 2>&1; then
        tail -n 5 fetch.log >&2
        die "could not download Debian source package $QEMU_SRC_PKG $QEMU_SRC_VERSION.
Tried: 'apt-get source --download-only $QEMU_SRC_PKG=$QEMU_SRC_VERSION' with the
deb-src entry for sid in /etc/apt/sources.list.d/qemu-pasid-src.sources.
Versions apt knows: $(apt-cache showsrc $QEMU_SRC_PKG 2>/dev/null | sed -n 's/^Version: //p' | tr '\n' ' ')
What to do: run 'make deps' (adds the entry and runs apt-get update); if the
version was removed from sid, put the three files of the upload
($QEMU_DSC and the tarballs it lists) into $CACHE_DIR by hand (e.g. from
snapshot archives) - the .dsc hash pinned in scripts/config.sh is checked."
    fi
    dsc_ok || die "$QEMU_DSC does not match the pinned sha256 in scripts/config.sh"
fi
# The .dsc lists the sha256 of every file it needs: check them all.
awk '/^Checksums-Sha256:/{f=1;next} /^[^ ]/{f=0} f{print $1"  "$3}' "$QEMU_DSC" |
    sha256sum -c --status || die "cached source files do not match $QEMU_DSC: delete $CACHE_DIR and retry"
note "source: $QEMU_SRC_PKG $QEMU_SRC_VERSION (cached in $CACHE_DIR)"
