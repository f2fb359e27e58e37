#!/bin/bash
# Configure (when needed) and build QEMU, with ccache and config.sh's
# configure arguments:
#   build.sh             the work tree into $OBJ_DIR: the emulators and the
#                        qtests we run
#   build.sh unpatched   plain 10.2.2 ($BASE_TAG), for the comparisons with
#                        the series (migration, the benchmark's guest part),
#                        into $BASE_OBJ (default build/obj-base)
#   build.sh bench-base  the benchmark's qtest baseline: 10.2.2 plus only the
#                        patches bench-config.sh names, into $BENCH_BASE_OBJ
#   build.sh bench-base-patches  only the choice of those patches and their
#                        worktree (seconds: 'make check' runs it, so that a
#                        renumbered or reordered series cannot break
#                        'make bench' unseen)
# The baselines are aarch64 with the virt machine's devices only
# (build-lib.sh virt_devices_args), each in a worktree of its own, made
# again only when the base or the patches changed.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/build-lib.sh"
. "$(dirname "$0")/bench-config.sh"

build_patched() {
    local targets
    qemu_configure "$WORK_TREE" "$OBJ_DIR" "${QEMU_CONFIGURE_ARGS[*]}" "${QEMU_CONFIGURE_ARGS[@]}"
    mapfile -t targets < <(default_build_targets)
    ninja_build "$OBJ_DIR" patched "${targets[@]}"
}

# build_base WHAT SRC OBJ [PATCH...]: $BASE_TAG plus the PATCHes of
# patches/ in the worktree SRC, qemu-system-aarch64 built in OBJ.
build_base() {
    local what=$1 src=$2 obj=$3 base stamp p args devices
    shift 3
    base=$(git -C "$WORK_TREE" rev-parse --verify -q "$BASE_TAG^{commit}") ||
        die "no tag $BASE_TAG in $WORK_TREE: run 'make src'"
    # What the worktree must hold, committed: the base and the patches'
    # contents (untracked files are fine: the build is out of tree).
    stamp=$( { echo "$base"; for p in "$@"; do cat "$PATCH_DIR/$p"; done; } |
             sha256sum | cut -d' ' -f1)
    if [ "$(cat "$src/.pasid-base-stamp" 2>/dev/null)" != "$stamp" ] ||
            [ -n "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null || echo broken)" ]; then
        note "worktree $src: $BASE_TAG${*:+ + $* (tests/ and MAINTAINERS left out)}"
        fresh_worktree "$src" "$base"
        # Only what QEMU builds: a patch's qtest and MAINTAINERS hunks may
        # depend on patches the baseline leaves out.
        for p in "$@"; do
            GIT_COMMITTER_NAME=baseline GIT_COMMITTER_EMAIL=baseline@invalid \
            GIT_COMMITTER_DATE="$BASE_DATE" \
                git -C "$src" am -q --exclude='tests/*' --exclude=MAINTAINERS "$PATCH_DIR/$p" ||
                die "$p does not apply to $BASE_TAG"
        done
        echo "$stamp" > "$src/.pasid-base-stamp"
        # A new source tree: configure afresh.
        rm -f "$obj/.pasid-configure-args"
    fi
    [ "${PATCHES_ONLY:-0}" = 0 ] || { note "$what: $src ready (not built)"; return; }
    mapfile -t devices < <(virt_devices_args "$src")
    # No debug info: nobody debugs a baseline, and GCC's -g does not change
    # the code it generates (the benchmark compares code, not symbols).
    mapfile -t args < <(configure_args_for aarch64-softmmu "${devices[@]}" --disable-debug-info)
    qemu_configure "$src" "$obj" "$stamp ${args[*]}" "${args[@]}"
    ninja_build "$obj" "$what" qemu-system-aarch64
}

# build_bench_base: the baseline with the series' patches that match a
# glob of BENCH_BASE_PATCHES, in order.  They must stay out of hw/arm, or
# the baseline is not 10.2.2's SMMU.
build_bench_base() {
    local p g patches=()
    while read -r p; do
        for g in "${BENCH_BASE_PATCHES[@]}"; do
            # shellcheck disable=SC2053  # $g is a glob
            [[ ${p#[0-9][0-9][0-9][0-9]-} == $g ]] || continue
            ! grep -q '^+++ b/hw/arm/' "$PATCH_DIR/$p" ||
                die "$p touches hw/arm: the bench baseline would not be 10.2.2's SMMUv3"
            patches+=("$p")
            break
        done
    done < <(series_patches)
    [ ${#patches[@]} -ge ${#BENCH_BASE_PATCHES[@]} ] ||
        die "patches/series lacks patches for BENCH_BASE_PATCHES (${BENCH_BASE_PATCHES[*]}): found ${patches[*]}"
    build_base "bench baseline" "$BENCH_BASE_SRC" "$BENCH_BASE_OBJ" "${patches[@]}"
}

prepare_build
case ${1:-} in
'') build_patched;;
unpatched) build_base unpatched "$BUILD_DIR/qemu-base" "${BASE_OBJ:-$BUILD_DIR/obj-base}";;
bench-base) build_bench_base;;
bench-base-patches) PATCHES_ONLY=1 build_bench_base;;
*) die "usage: $0 [unpatched|bench-base|bench-base-patches]";;
esac
