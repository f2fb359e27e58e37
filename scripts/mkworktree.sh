#!/bin/bash
# (Re)create the QEMU work tree: Debian's pristine source as the first
# commit (tagged $BASE_TAG), then the series from patches/ applied with
# 'git am'.  Refuses to throw away work that is not exported to patches/.
#   mkworktree.sh          create, or recreate if it holds nothing unexported
#   mkworktree.sh --force  recreate even if un-exported work would be lost
#   mkworktree.sh --ensure create if missing, update if patches/ changed,
#                          keep a work tree that is ahead (with a warning)
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/tree-lib.sh"

mode=${1:-}
state=$(tree_state)
case "$mode/$state" in
    --ensure/synced) exit 0 ;;
    --ensure/ahead)
        note "work tree has work not exported to patches/: building it as is ('make status')"
        exit 0 ;;
    --ensure/diverged|/diverged)
        die "both the work tree ($WORK_TREE) and patches/ changed since the last sync.
Export or drop your work ('make export', or 'make src FORCE=1' to discard it)." ;;
    /ahead)
        die "the work tree has commits or changes not exported to patches/.
Run 'make export' first, or 'make src FORCE=1' to discard them." ;;
esac

bash "$(dirname "$0")/fetch-qemu.sh"

note "creating work tree $WORK_TREE from $QEMU_DSC"
tmp="$BUILD_DIR/qemu.new"
rm -rf "$tmp"
mkdir -p "$BUILD_DIR"
dpkg-source --no-check -x "$CACHE_DIR/$QEMU_DSC" "$tmp" >"$BUILD_DIR/dpkg-source.log" 2>&1 ||
    { tail -n 20 "$BUILD_DIR/dpkg-source.log"; die "dpkg-source -x failed"; }
# Debian's patches are applied by dpkg-source; quilt's bookkeeping is not
# part of the source.
rm -rf "$tmp/.pc"
(
    cd "$tmp"
    git init -q -b master .
    git config core.autocrlf false
    git config user.name >/dev/null || git config user.name "QEMU PASID developer"
    git config user.email >/dev/null || git config user.email "qemu-pasid@localhost"
    # -f: the tarball ships files that QEMU's own .gitignore lists.
    git add -A -f .
    GIT_AUTHOR_NAME=$GIT_BASE_IDENT_NAME GIT_AUTHOR_EMAIL=$GIT_BASE_IDENT_EMAIL \
    GIT_COMMITTER_NAME=$GIT_BASE_IDENT_NAME GIT_COMMITTER_EMAIL=$GIT_BASE_IDENT_EMAIL \
    GIT_AUTHOR_DATE=$BASE_DATE GIT_COMMITTER_DATE=$BASE_DATE \
        git commit -q -m "Debian qemu $QEMU_SRC_VERSION (upstream $QEMU_UPSTREAM_VERSION + Debian patches)"
    git tag "$BASE_TAG"
)

n=0
if [ -f "$PATCH_DIR/series" ]; then
    while read -r p; do
        case "$p" in ''|'#'*) continue;; esac
        [ -f "$PATCH_DIR/$p" ] || die "patches/series lists $p, which does not exist"
        if ! git -C "$tmp" am -q --keep-cr "$PATCH_DIR/$p" >"$BUILD_DIR/git-am.log" 2>&1; then
            grep -v -e "git am --" -e "^When you have resolved" -e "^If you prefer to skip" -e "^To restore the original" "$BUILD_DIR/git-am.log" >&2
            git -C "$tmp" am --abort || true
            die "patch '$p' does not apply on top of $BASE_TAG and the patches before it"
        fi
        n=$((n + 1))
    done < "$PATCH_DIR/series"
fi

# Swap in the new tree only once it is complete.  The build directory is
# separate, so ninja rebuilds only what changed (ccache covers the rest).
rm -rf "$WORK_TREE"
mv "$tmp" "$WORK_TREE"
mark_synced
note "work tree ready: $BASE_TAG + $n patch(es)"
