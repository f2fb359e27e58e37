#!/bin/bash
# Configure (when needed) and build QEMU from the work tree into $OBJ_DIR.
#   build.sh [ninja targets...]   default: the emulators and the qtests we run
set -euo pipefail
. "$(dirname "$0")/config.sh"

[ -d "$WORK_TREE/.git" ] || die "no work tree: run 'make src'"
bash "$(dirname "$0")/fetch-firmware.sh"
command -v ccache >/dev/null || die "ccache missing: run 'make deps'"
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
# QEMU's configure names the compiler 'cc' in meson's cross file, so meson
# does not add ccache by itself: Debian's masquerade directory does it.
export PATH=/usr/lib/ccache:$PATH
# Relative paths in ccache's hash: clones in other folders share the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$TOP}

# Reconfigure only when the configure arguments change; meson notices
# changes to meson.build files by itself.
args="${QEMU_CONFIGURE_ARGS[*]}"
mkdir -p "$OBJ_DIR"
if [ ! -f "$OBJ_DIR/build.ninja" ] || [ "$(cat "$OBJ_DIR/.pasid-configure-args" 2>/dev/null)" != "$args" ]; then
    note "configure: $args"
    rm -rf "$OBJ_DIR"
    mkdir -p "$OBJ_DIR"
    (cd "$OBJ_DIR" && "$WORK_TREE/configure" "${QEMU_CONFIGURE_ARGS[@]}" >configure.log 2>&1) ||
        { tail -n 30 "$OBJ_DIR/configure.log"; die "configure failed (log: $OBJ_DIR/configure.log)"; }
    echo "$args" > "$OBJ_DIR/.pasid-configure-args"
fi

# A QEMU run from its build tree looks for data, firmware included, under
# qemu-bundle/ + the configured path: point that at the unpacked firmware.
bundle_fw="$OBJ_DIR/qemu-bundle$FIRMWARE_DIR"
if [ ! -L "$bundle_fw" ]; then
    mkdir -p "$(dirname "$bundle_fw")"
    ln -sfn "$FIRMWARE_DIR" "$bundle_fw"
fi

if [ $# = 0 ]; then
    set -- $(default_build_targets)
fi
note "ninja $*"
start=$(date +%s)
ninja -C "$OBJ_DIR" "$@" || die "build failed"
note "build done in $(( $(date +%s) - start )) s"
