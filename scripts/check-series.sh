#!/bin/bash
# Build every patch of the series on its own, in order, and run the SMMU
# qtest at each step: a bisectable series builds and passes at every
# commit.  Each patch is built twice, in a worktree of its own
# (build/series) so the work tree and build/obj are left alone:
#   - the normal build (every target 'make check' builds), and our qtests
#     (SLOW_QTESTS: smmuv3-test, pasid-dma-test, riscv-iommu-pasid-test)
#     with -m slow on each target 'make check' runs them on;
#   - the ASan + UBSan build of aarch64, the SMMU qtests through
#     check-sanitize.sh (the fuzz seeds are among them).
# ccache makes the steps after the first cheap.  A patch that passed is
# remembered by its commit (build/series/passed/), so a run that was cut
# short goes on where it stopped: on 2 cores the whole series takes hours.
# A stamp names the patch's tree, not its commit: rewording a commit
# message does not make it run again.
#   SERIES_FROM=N SERIES_TO=M  only patches N..M (default: all)
#   SERIES_SANITIZE=0          skip the sanitizer build
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/build-lib.sh"

SERIES_DIR=$BUILD_DIR/series
SRC=$SERIES_DIR/qemu
OBJ=$SERIES_DIR/obj
SAN=$SERIES_DIR/obj-san
FROM=${SERIES_FROM:-1}
TO=${SERIES_TO:-9999}
PASSED=$SERIES_DIR/passed
SANITIZE=${SERIES_SANITIZE:-1}

prepare_build
mapfile -t commits < <(git -C "$WORK_TREE" rev-list --reverse "$BASE_TAG..HEAD")
[ ${#commits[@]} -gt 0 ] || { echo "no patches"; exit 0; }
fresh_worktree "$SRC" "$BASE_TAG"
trap 'git -C "$WORK_TREE" worktree remove --force "$SRC" 2>/dev/null || true' EXIT
qemu_configure "$SRC" "$OBJ" "${QEMU_CONFIGURE_ARGS[*]}" "${QEMU_CONFIGURE_ARGS[@]}"
if [ "$SANITIZE" = 1 ]; then
    mapfile -t san_args < <(configure_args_for aarch64-softmmu --enable-asan --enable-ubsan)
    qemu_configure "$SRC" "$SAN" "${san_args[*]}" "${san_args[@]}"
fi

# existing_targets OBJ WANTED...: those of WANTED the build at the current
# commit defines (a qtest exists only from the patch that adds it).  Meson
# regenerates build.ninja first when a meson.build changed.
existing_targets() {
    local obj=$1
    shift
    ninja -C "$obj" build.ninja >/dev/null
    printf '%s\n' "$@" | grep -Fx -f <(ninja -C "$obj" -t targets all | cut -d: -f1) || true
}

# our_qtests OBJ: run each of our qtests the build defines, -m slow, on
# the targets 'make check' runs it on.
our_qtests() {
    local obj=$1 q target name rc=0
    for q in "${QTESTS[@]}"; do
        target=${q%%:*} name=${q#*:} name=${name%%:*}
        printf '%s\n' "${SLOW_QTESTS[@]}" | grep -qx "$name" || continue
        [ -x "$obj/tests/qtest/$name" ] || continue
        echo "# $name on $target"
        QTEST_QEMU_BINARY="$obj/qemu-system-$target" \
            "$obj/tests/qtest/$name" --tap -k -m slow || rc=1
    done
    return $rc
}

# build_and_test N OBJ TEST_CMD...: build what OBJ defines of the usual
# targets, then run TEST_CMD when smmuv3-test exists; logs in build/series.
build_and_test() {
    local n=$1 obj=$2 kind=$3 log targets
    shift 3
    log=$SERIES_DIR/$kind-$n
    if [ "$kind" = san ]; then
        mapfile -t targets < <(existing_targets "$obj" qemu-system-aarch64 tests/qtest/smmuv3-test)
    else
        mapfile -t targets < <(existing_targets "$obj" $(default_build_targets))
    fi
    ninja -C "$obj" "${targets[@]}" >"$log-build.log" 2>&1 ||
        { echo "$kind build failed (log $log-build.log)"; return 1; }
    printf '%s\n' "${targets[@]}" | grep -qx tests/qtest/smmuv3-test ||
        { echo "$kind built"; return 0; }
    "$@" >"$log-test.log" 2>&1 ||
        { echo "$kind smmuv3-test failed (log $log-test.log)"; return 1; }
    echo "$kind $(grep -E -c '^(ok|PASS) ' "$log-test.log") ok"
    ! grep -q '^not ok' "$log-test.log" ||
        { echo "$kind: a case failed (log $log-test.log)"; return 1; }
}

# A stamp holds for the commit and for how it was built and tested.
recipe=$(cat "$0" "$TOP"/scripts/{check-sanitize,build-lib,config,lib}.sh |
    sha256sum | cut -c1-12)
mkdir -p "$PASSED"
n=0 bad=0 ran=0 earlier=0
for c in "${commits[@]}"; do
    n=$((n + 1))
    [ $n -ge "$FROM" ] && [ $n -le "$TO" ] || continue
    ran=$((ran + 1))
    subject=$(git -C "$WORK_TREE" log -1 --format=%s "$c")
    stamp=$PASSED/$(git -C "$WORK_TREE" rev-parse "$c^{tree}").$recipe.sanitize$SANITIZE
    if [ -f "$stamp" ]; then
        echo "PASS  $n $subject: $(cat "$stamp") (an earlier run)"
        earlier=$((earlier + 1))
        continue
    fi
    git -C "$SRC" checkout -q --detach "$c"
    start=$(date +%s) ok=1
    result=$(build_and_test $n "$OBJ" obj our_qtests "$OBJ") || ok=0
    if [ "$SANITIZE" = 1 ]; then
        r=$(build_and_test $n "$SAN" san env SAN_DIR="$SAN" \
            SAN_LOG_DIR="$SERIES_DIR/san-$n-logs" bash "$TOP/scripts/check-sanitize.sh") || ok=0
        result="$result, $r"
    fi
    if [ $ok = 1 ]; then
        echo "$result" >"$stamp"
        echo "PASS  $n $subject: $result ($(( $(date +%s) - start )) s)"
    else
        echo "FAIL  $n $subject: $result"
        bad=$((bad + 1))
    fi
done
echo "$((ran - bad)) passed ($earlier in earlier runs), $bad failed"
[ $bad = 0 ]
