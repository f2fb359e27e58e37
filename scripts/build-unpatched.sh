#!/bin/bash
# Build unpatched QEMU 10.2.2 ($BASE_TAG) for the comparisons with the
# series (migration, benchmarks): in its own git worktree (BASE_SRC,
# default $BUILD_DIR/qemu-base) and build directory (BASE_OBJ, default
# $BUILD_DIR/obj-base), with build.sh's configure arguments and ccache,
# for BASE_TARGETS (default aarch64-softmmu).
#   build-unpatched.sh [more ninja targets...]   (no tools such as qemu-img:
#                                   the configuration has no default features)
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/build-lib.sh"

BASE_SRC=${BASE_SRC:-$BUILD_DIR/qemu-base}
BASE_OBJ=${BASE_OBJ:-$BUILD_DIR/obj-base}
BASE_TARGETS=${BASE_TARGETS:-aarch64-softmmu}

prepare_build
base=$(git -C "$WORK_TREE" rev-parse --verify -q "$BASE_TAG^{commit}") ||
    die "no tag $BASE_TAG in $WORK_TREE: run 'make src'"

# The worktree: (re)created when missing, broken or at another commit.
# (Untracked files are fine: the build is out of tree anyway.)
head=$(git -C "$BASE_SRC" rev-parse -q --verify HEAD 2>/dev/null || true)
if [ "$head" != "$base" ] ||
        [ -n "$(git -C "$BASE_SRC" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    note "worktree $BASE_SRC at $BASE_TAG"
    fresh_worktree "$BASE_SRC" "$base"
    # A new source tree: the old build directory's paths may be stale.
    rm -f "$BASE_OBJ/.pasid-configure-args"
fi

mapfile -t args < <(configure_args_for "$BASE_TARGETS")
# (a re-made worktree, $base, configures afresh too)
qemu_configure "$BASE_SRC" "$BASE_OBJ" "$base ${args[*]}" "${args[@]}"

for t in ${BASE_TARGETS//,/ }; do
    set -- "qemu-system-${t%-softmmu}" "$@"
done
ninja_build "$BASE_OBJ" unpatched "$@"
