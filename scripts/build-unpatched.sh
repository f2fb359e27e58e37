#!/bin/bash
# Build UNPATCHED QEMU (Debian's 10.2.2 source, $BASE_TAG) for comparisons
# with the series: migration compatibility, benchmarks.  Uses its own git
# worktree ($BUILD_DIR/qemu-base, detached at $BASE_TAG) and build
# directory ($BUILD_DIR/obj-base), so the work tree, build/obj and the
# worktree of check-series.sh (build/series) are left alone.
#
#   build-unpatched.sh [extra ninja targets...]
#
# Always builds the emulators (qemu-system-aarch64), plus the targets given
# (ninja target names, e.g. tests/qtest/qos-test; no tools such as qemu-img:
# the configuration has --without-default-features).
#
# Same configure arguments as build.sh, but aarch64 only (override with
# BASE_TARGETS=aarch64-softmmu,x86_64-softmmu...); ccache like build.sh.
# Other paths: BASE_SRC, BASE_OBJ.
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

# The configure arguments of config.sh with our target list.
mapfile -t args < <(configure_args_for "$BASE_TARGETS")
# A re-made worktree ($base) configures afresh too.
qemu_configure "$BASE_SRC" "$BASE_OBJ" "$base ${args[*]}" "${args[@]}"

targets=()
for t in ${BASE_TARGETS//,/ }; do
    targets+=("qemu-system-${t%-softmmu}")
done
set -- "${targets[@]}" "$@"

note "ninja (unpatched) $*"
start=$(date +%s)
ninja -C "$BASE_OBJ" "$@" || die "build failed"
note "unpatched build done in $(( $(date +%s) - start )) s: $BASE_OBJ"
