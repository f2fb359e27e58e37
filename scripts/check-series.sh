#!/bin/bash
# Build every patch of the series on its own, in order, and run the
# SMMU qtest at each step: a bisectable series builds and passes at every
# commit.  Uses a separate git worktree and build directory (build/series)
# so the work tree and build/obj are left alone; ccache makes the steps
# after the first cheap.
set -euo pipefail
. "$(dirname "$0")/config.sh"

[ -d "$WORK_TREE/.git" ] || die "no work tree: run 'make src'"
SERIES_DIR=$BUILD_DIR/series
SRC=$SERIES_DIR/qemu
OBJ=$SERIES_DIR/obj
export PATH=/usr/lib/ccache:$PATH CCACHE_BASEDIR=$BUILD_DIR

commits=$(git -C "$WORK_TREE" rev-list --reverse "$BASE_TAG..HEAD")
[ -n "$commits" ] || { echo "no patches"; exit 0; }
rm -rf "$SERIES_DIR"
git -C "$WORK_TREE" worktree prune
git -C "$WORK_TREE" worktree add -q --detach "$SRC" "$BASE_TAG"
trap 'git -C "$WORK_TREE" worktree remove --force "$SRC" 2>/dev/null || true' EXIT
mkdir -p "$OBJ"
(cd "$OBJ" && "$SRC/configure" "${QEMU_CONFIGURE_ARGS[@]}" >configure.log 2>&1) ||
    die "configure failed: $OBJ/configure.log"
mkdir -p "$(dirname "$OBJ/qemu-bundle$FIRMWARE_DIR")"
ln -sfn "$FIRMWARE_DIR" "$OBJ/qemu-bundle$FIRMWARE_DIR"

n=0 bad=0
for c in $commits; do
    n=$((n + 1))
    subject=$(git -C "$WORK_TREE" log -1 --format=%s "$c")
    git -C "$SRC" checkout -q --detach "$c"
    start=$(date +%s)
    if ! ninja -C "$OBJ" $(default_build_targets | grep -v smmuv3-test) \
            >"$SERIES_DIR/build-$n.log" 2>&1; then
        echo "FAIL  $n $subject: build (log $SERIES_DIR/build-$n.log)"
        bad=$((bad + 1))
        continue
    fi
    result="built"
    # (no grep -q: it would close the pipe early, and pipefail sees SIGPIPE)
    if ninja -C "$OBJ" -t targets all 2>/dev/null |
            grep '^tests/qtest/smmuv3-test:' >/dev/null; then
        ninja -C "$OBJ" tests/qtest/smmuv3-test >>"$SERIES_DIR/build-$n.log" 2>&1 || {
            echo "FAIL  $n $subject: smmuv3-test build"; bad=$((bad + 1)); continue; }
        if QTEST_QEMU_BINARY=$OBJ/qemu-system-aarch64 \
                "$OBJ/tests/qtest/smmuv3-test" --tap -k >"$SERIES_DIR/test-$n.log" 2>&1; then
            result="built, smmuv3-test $(grep -c '^ok' "$SERIES_DIR/test-$n.log") ok"
        else
            echo "FAIL  $n $subject: smmuv3-test (log $SERIES_DIR/test-$n.log)"
            bad=$((bad + 1))
            continue
        fi
    fi
    echo "PASS  $n $subject: $result ($(( $(date +%s) - start )) s)"
done
echo "$((n - bad)) passed, $bad failed"
[ $bad = 0 ]
