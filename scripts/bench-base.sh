#!/bin/bash
# 'make bench-base': the benchmark's baseline, QEMU 10.2.2 ($BASE_TAG) plus
# only the patches bench-config.sh's BENCH_BASE_PATCHES names, so that the
# qtest workloads (which need the test device) run on 10.2.2's SMMUv3.
# Worktree $BENCH_BASE_SRC (the patches applied with git am), build
# directory $BENCH_BASE_OBJ, aarch64 only, configured as build/obj (with
# build-lib.sh); rebuilt only when the base or those patches changed.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/build-lib.sh"
. "$(dirname "$0")/bench-config.sh"

prepare_build
base=$(git -C "$WORK_TREE" rev-parse --verify -q "$BASE_TAG^{commit}") ||
    die "no tag $BASE_TAG in $WORK_TREE: run 'make src'"

# The series' patches that match a glob of BENCH_BASE_PATCHES, in order
patches=()
while read -r p; do
    case "$p" in ''|'#'*) continue;; esac
    for g in "${BENCH_BASE_PATCHES[@]}"; do
        # shellcheck disable=SC2053  # $g is a glob
        if [[ ${p#[0-9][0-9][0-9][0-9]-} == $g ]]; then
            patches+=("$p")
            break
        fi
    done
done < "$PATCH_DIR/series"
[ ${#patches[@]} -ge ${#BENCH_BASE_PATCHES[@]} ] ||
    die "patches/series lacks patches for BENCH_BASE_PATCHES (${BENCH_BASE_PATCHES[*]}): found ${patches[*]}"
# They must stay out of hw/arm, or the baseline is not 10.2.2's SMMU.
for p in "${patches[@]}"; do
    if grep -q '^+++ b/hw/arm/' "$PATCH_DIR/$p"; then
        die "$p touches hw/arm: the bench baseline would not be 10.2.2's SMMUv3"
    fi
done

# What the worktree must hold: the base and the patches' contents.
stamp=$( { echo "$base"; for p in "${patches[@]}"; do cat "$PATCH_DIR/$p"; done; } |
         sha256sum | cut -d' ' -f1)
if [ "$(cat "$BENCH_BASE_SRC/.bench-base-stamp" 2>/dev/null)" != "$stamp" ] ||
        [ -n "$(git -C "$BENCH_BASE_SRC" status --porcelain --untracked-files=no 2>/dev/null || echo broken)" ]; then
    # Only what QEMU builds: a patch's qtest and MAINTAINERS hunks may
    # depend on patches the baseline leaves out.
    note "worktree $BENCH_BASE_SRC: $BASE_TAG + ${patches[*]} (tests/ and MAINTAINERS left out)"
    fresh_worktree "$BENCH_BASE_SRC" "$base"
    for p in "${patches[@]}"; do
        GIT_COMMITTER_NAME="bench baseline" GIT_COMMITTER_EMAIL="bench@invalid" \
        GIT_COMMITTER_DATE="$BASE_DATE" \
            git -C "$BENCH_BASE_SRC" am -q --exclude='tests/*' --exclude=MAINTAINERS "$PATCH_DIR/$p" ||
            die "$p does not apply to $BASE_TAG"
    done
    echo "$stamp" > "$BENCH_BASE_SRC/.bench-base-stamp"
    # A new source tree: configure afresh.
    rm -f "$BENCH_BASE_OBJ/.pasid-configure-args"
fi

mapfile -t args < <(configure_args_for aarch64-softmmu)
qemu_configure "$BENCH_BASE_SRC" "$BENCH_BASE_OBJ" "$stamp ${args[*]}" "${args[@]}"

ninja_build "$BENCH_BASE_OBJ" "bench baseline" qemu-system-aarch64
