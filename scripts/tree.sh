#!/bin/bash
# The QEMU work tree ($WORK_TREE) and patches/:
#   tree.sh fetch   Debian's pinned source package, into the cache
#   tree.sh create [--force]  (re)create it: Debian's source as the first
#                   commit ($BASE_TAG), then patches/ with 'git am'; work
#                   not exported to patches/ is kept unless --force
#   tree.sh ensure  create if missing, update if patches/ changed, build a
#                   work tree that is ahead as it is
#   tree.sh export  its commits into patches/ (byte-identical if unchanged)
#   tree.sh status  does it match patches/?
set -euo pipefail
. "$(dirname "$0")/config.sh"

SYNC_STAMP=$WORK_TREE/.git/pasid-synced-patches
SYNC_HEAD=$WORK_TREE/.git/pasid-synced-head
# 'git format-patch' output that depends only on the commits: no hashes,
# no git version, no "n/m" (a new patch would rewrite every subject), full
# blob ids (abbreviations depend on the repository's size).
FORMAT_PATCH_OPTS=(--zero-commit --no-signature --no-numbered --no-thread
                   --full-index --no-cover-letter --stat=80)

wt() { git -C "$WORK_TREE" "$@"; }
uncommitted() { wt status --porcelain --untracked-files=no; }

# Hash of what patches/ holds (series + the files it lists).
patches_hash() {
    (cd "$PATCH_DIR" && cat series 2>/dev/null && series_patches | xargs -r cat) |
        sha256sum | cut -d' ' -f1
}

# Write the work tree's commits since the base tag as a series into $1.
export_into() {
    mkdir -p "$1"
    wt -c core.quotepath=off format-patch "${FORMAT_PATCH_OPTS[@]}" \
        -o "$1" "$BASE_TAG..HEAD" | sed 's|.*/||' > "$1/series"
}

# One word for the state of the work tree against patches/:
#   missing   no work tree
#   synced    work tree commits == patches/, nothing uncommitted
#   ahead     work tree has commits or changes not in patches/, and
#             patches/ did not change since the tree was made/exported
#   behind    patches/ changed (e.g. git pull), work tree did not
#   diverged  both changed
tree_state() {
    if [ ! -d "$WORK_TREE/.git" ] || ! wt rev-parse -q --verify "$BASE_TAG" >/dev/null; then
        echo missing; return
    fi
    local tmp same=0
    tmp=$(mktemp -d)
    export_into "$tmp"
    [ "$(patches_hash)" = "$(PATCH_DIR=$tmp patches_hash)" ] && same=1
    rm -rf "$tmp"
    if [ $same = 1 ] && [ -z "$(uncommitted)" ]; then echo synced
    elif [ "$(cat "$SYNC_STAMP" 2>/dev/null)" = "$(patches_hash)" ]; then echo ahead
    elif [ $same = 0 ] && wt diff --quiet && [ "$(cat "$SYNC_HEAD" 2>/dev/null)" = "$(wt rev-parse HEAD)" ]; then
        echo behind
    else echo diverged
    fi
}

mark_synced() {
    patches_hash > "$SYNC_STAMP"
    wt rev-parse HEAD > "$SYNC_HEAD"
}

# Debian's source package at the pinned version, downloaded once and
# checked: the .dsc against the pinned hash, the files against the .dsc.
fetch() {
    cached "$CACHE_DIR/$QEMU_DSC" "$QEMU_DSC_SHA256" "$CACHE_DIR/fetch.log" \
        apt-get source --download-only "$QEMU_SRC_PKG=$QEMU_SRC_VERSION" || {
        tail -n 5 "$CACHE_DIR/fetch.log" >&2
        die "apt-get source gave no $QEMU_DSC with the pinned hash (apt knows: $(
            apt-cache showsrc $QEMU_SRC_PKG 2>/dev/null | sed -n 's/^Version: //p' | tr '\n' ' ')).
Run 'make deps' (it adds sid's deb-src entry), or put the .dsc and its
tarballs into $CACHE_DIR by hand (e.g. from snapshot archives)."; }
    (cd "$CACHE_DIR" && awk '/^Checksums-Sha256:/{f=1;next} /^[^ ]/{f=0} f{print $1"  "$3}' \
        "$QEMU_DSC" | sha256sum -c --status) ||
        die "cached source files do not match $QEMU_DSC: delete $CACHE_DIR and retry"
    note "source: $QEMU_SRC_PKG $QEMU_SRC_VERSION (cached in $CACHE_DIR)"
}

# The base commit, then the series; swapped in once complete.
create() {
    local tmp=$BUILD_DIR/qemu.new p
    fetch
    note "creating work tree $WORK_TREE from $QEMU_DSC"
    rm -rf "$tmp"
    mkdir -p "$BUILD_DIR"
    dpkg-source --no-check -x "$CACHE_DIR/$QEMU_DSC" "$tmp" >"$BUILD_DIR/dpkg-source.log" 2>&1 ||
        { tail -n 20 "$BUILD_DIR/dpkg-source.log"; die "dpkg-source -x failed"; }
    # Debian's patches are applied by dpkg-source; quilt's bookkeeping is
    # not part of the source.
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
    while read -r p; do
        [ -f "$PATCH_DIR/$p" ] || die "patches/series lists $p, which does not exist"
        if ! git -C "$tmp" am -q --keep-cr "$PATCH_DIR/$p" >"$BUILD_DIR/git-am.log" 2>&1; then
            grep -v -e "git am --" -e "^When you have resolved" -e "^If you prefer to skip" \
                -e "^To restore the original" "$BUILD_DIR/git-am.log" >&2
            git -C "$tmp" am --abort || true
            die "patch '$p' does not apply on top of $BASE_TAG and the patches before it"
        fi
    done < <(series_patches)
    # (the build directory is separate: ninja rebuilds only what changed)
    rm -rf "$WORK_TREE"
    mv "$tmp" "$WORK_TREE"
    mark_synced
    note "work tree ready: $BASE_TAG + $(series_patches | wc -l) patch(es)"
}

export_patches() {
    local tmp
    [ -d "$WORK_TREE/.git" ] || die "no work tree: run 'make src'"
    case $(tree_state) in diverged|behind)
        [ "${FORCE:-0}" = 1 ] || die "patches/ changed since the work tree was made (git pull?): exporting would overwrite it.
Re-create the tree with 'make src', or export anyway with 'make export FORCE=1'.";;
    esac
    [ -z "$(uncommitted)" ] ||
        echo "warning: uncommitted changes in $WORK_TREE are not exported (commit them first)" >&2
    tmp=$(mktemp -d)
    export_into "$tmp"
    mkdir -p "$PATCH_DIR"
    rm -f "$PATCH_DIR"/*.patch "$PATCH_DIR/series"
    # (export_into writes a series, empty without commits)
    cp "$tmp"/* "$PATCH_DIR"/
    rm -rf "$tmp"
    mark_synced
    note "exported $(grep -c . "$PATCH_DIR/series" || true) patch(es) to patches/"
}

status() {
    local dirty
    echo "work tree: $WORK_TREE"
    echo "base:      $BASE_TAG ($QEMU_SRC_PKG $QEMU_SRC_VERSION)"
    echo "commits:   $(wt rev-list --count "$BASE_TAG..HEAD") on top of the base; patches/ lists $(series_patches | wc -l)"
    wt log --oneline "$BASE_TAG..HEAD" | sed 's/^/  /'
    dirty=$(uncommitted)
    [ -z "$dirty" ] || { echo "uncommitted changes:"; echo "$dirty" | sed 's/^/  /'; }
    case $1 in
    synced)   echo "state: SYNCED - patches/ matches the work tree" ;;
    ahead)    echo "state: AHEAD - the work tree has work not in patches/: commit it, then 'make export' and commit patches/" ;;
    behind)   echo "state: BEHIND - patches/ changed since the tree was made: 'make src' updates the tree" ;;
    diverged) echo "state: DIVERGED - both changed: export or discard your work ('make src FORCE=1')" ;;
    esac
}

cmd=${1:-} state=
case $cmd in create|ensure|status) state=$(tree_state);; esac
[ "$cmd ${2:-}" != "create --force" ] || state=forced
case $cmd/$state in
fetch/) fetch;;
export/) export_patches;;
status/missing) echo "work tree: none ('make src' creates it from patches/)";;
status/*) status "$state";;
ensure/synced) ;;
ensure/ahead) note "work tree has work not exported to patches/: building it as is ('make status')";;
*/diverged) die "both the work tree ($WORK_TREE) and patches/ changed since the last sync.
Export or drop your work ('make export', or 'make src FORCE=1' to discard it).";;
create/ahead) die "the work tree has commits or changes not exported to patches/.
Run 'make export' first, or 'make src FORCE=1' to discard them.";;
create/*|ensure/*) create;;
*) die "usage: $0 fetch|create [--force]|ensure|export|status";;
esac
