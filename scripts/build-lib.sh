# shellcheck shell=bash
# Shared by the build scripts (sourced after config.sh): one place for
# configuring a QEMU build directory and pointing it at the firmware.

# prepare_build: the firmware and ccache, for any build of the work tree.
# QEMU's configure names the compiler 'cc' in meson's cross file, so meson
# does not add ccache by itself: Debian's masquerade directory does it.
# Relative paths in ccache's hash: clones in other folders share the cache.
prepare_build() {
    [ -d "$WORK_TREE/.git" ] || die "no work tree: run 'make src'"
    bash "$TOP/scripts/fetch-firmware.sh"
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

# fresh_worktree DIR COMMIT: (re)create DIR as a detached worktree of the
# work tree at COMMIT.  Only this worktree is touched ('worktree prune'
# drops the records of worktrees whose directory is gone, nothing else).
fresh_worktree() {
    git -C "$WORK_TREE" worktree remove --force "$1" 2>/dev/null || true
    rm -rf "$1"
    git -C "$WORK_TREE" worktree prune
    git -C "$WORK_TREE" worktree add -q --detach "$1" "$2"
}
