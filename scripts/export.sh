#!/bin/bash
# Regenerate patches/ and patches/series from the work tree's commits on
# top of $BASE_TAG.  Unchanged commits give byte-identical files.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/tree-lib.sh"

[ -d "$WORK_TREE/.git" ] || die "no work tree: run 'make src'"
if [ "$(tree_state)" = diverged ] || [ "$(tree_state)" = behind ]; then
    [ "${FORCE:-0}" = 1 ] || die "patches/ changed since the work tree was made (git pull?): exporting would overwrite it.
Re-create the tree with 'make src', or export anyway with 'make export FORCE=1'."
fi
if [ -n "$(wt status --porcelain --untracked-files=no)" ]; then
    echo "warning: uncommitted changes in $WORK_TREE are not exported (commit them first)" >&2
fi
tmp=$(mktemp -d)
export_into "$tmp"
mkdir -p "$PATCH_DIR"
rm -f "$PATCH_DIR"/*.patch "$PATCH_DIR/series"
cp "$tmp"/* "$PATCH_DIR"/ 2>/dev/null || true
[ -f "$PATCH_DIR/series" ] || : > "$PATCH_DIR/series"
rm -rf "$tmp"
mark_synced
note "exported $(grep -c . "$PATCH_DIR/series" || true) patch(es) to patches/"
