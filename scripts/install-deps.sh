#!/bin/bash
# Install, from Debian only, what building and testing the series needs.
# Idempotent: packages already installed are skipped, nothing is upgraded
# beyond what a named package needs.  Must run as root on Debian 12.
set -euo pipefail
. "$(dirname "$0")/config.sh"

# Host build dependencies from bookworm itself; the aarch64 cross
# compiler builds the iommufd guest kernel and tests/guest/*.c, matplotlib
# and valgrind serve make bench.
HOST_PKGS=(build-essential git ninja-build pkg-config libglib2.0-dev
           libpixman-1-dev libfdt-dev libslirp-dev python3-venv ccache
           flex bison dpkg-dev xz-utils perl cpio
           gcc-aarch64-linux-gnu libc6-dev-arm64-cross bc
           python3-matplotlib valgrind)
# bookworm's meson (1.0) is too old for QEMU 10.2 and the +ds tarball has no
# bundled meson wheel: take meson (>= 1.5) and pycotap from bookworm-backports.
BACKPORT_PKGS=(meson python3-pycotap)
MESON_MIN=1.5

missing() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed$' || echo "$p"
    done
}
meson_ok() {
    command -v meson >/dev/null &&
        dpkg --compare-versions "$(meson --version)" ge "$MESON_MIN"
}

# add_source FILE DEB-LINE-FIELDS...: an apt sources entry, once (root).
add_source() {
    [ -f "$1" ] && return
    [ "$(id -u)" = 0 ] || die "need root to add $1"
    printf '%s\n' "${@:2}" "URIs: http://deb.debian.org/debian" "Components: main" \
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" > "$1"
    need_update=1
}

# Source entries for sid (apt-get source qemu=$QEMU_SRC_VERSION) and a
# narrow amd64-only bookworm-backports entry.  sid binaries are never added
# for the host architecture, so no install can pull host upgrades from sid.
need_update=0
add_source /etc/apt/sources.list.d/qemu-pasid-src.sources "Types: deb-src" "Suites: sid"
add_source /etc/apt/sources.list.d/qemu-pasid-backports.sources \
    "Types: deb" "Suites: bookworm-backports" "Architectures: amd64"

mapfile -t want_host < <(missing "${HOST_PKGS[@]}")
mapfile -t want_bpo < <(missing "${BACKPORT_PKGS[@]}")
meson_ok || want_bpo+=(meson)
# A usable apt list for deb-src is needed by tree.sh fetch too.
apt-cache showsrc "$QEMU_SRC_PKG" 2>/dev/null | grep -qx "Version: $QEMU_SRC_VERSION" || need_update=1

if [ ${#want_host[@]} = 0 ] && [ ${#want_bpo[@]} = 0 ] && [ $need_update = 0 ]; then
    note "dependencies: all installed"
    exit 0
fi
[ "$(id -u)" = 0 ] || die "missing packages: ${want_host[*]} ${want_bpo[*]} (run 'make deps' as root)"

export DEBIAN_FRONTEND=noninteractive
note "apt-get update"
apt-get update -qq || die "apt-get update failed"
if [ ${#want_host[@]} != 0 ]; then
    note "installing: ${want_host[*]}"
    apt-get install -y -qq --no-install-recommends "${want_host[@]}"
fi
if [ ${#want_bpo[@]} != 0 ]; then
    note "installing from bookworm-backports: ${want_bpo[*]}"
    apt-get install -y -qq --no-install-recommends -t bookworm-backports "${want_bpo[@]}"
fi
meson_ok || die "meson >= $MESON_MIN not available (bookworm-backports)"
note "dependencies: done (meson $(meson --version))"
