#!/bin/bash
# Say whether the work tree matches patches/.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/tree-lib.sh"

state=$(tree_state)
case $state in
    missing) echo "work tree: none ('make src' creates it from patches/)"; exit 0 ;;
esac
echo "work tree: $WORK_TREE"
echo "base:      $BASE_TAG ($QEMU_SRC_PKG $QEMU_SRC_VERSION)"
echo "commits:   $(wt rev-list --count "$BASE_TAG..HEAD") on top of the base; patches/ lists $(grep -c . "$PATCH_DIR/series" 2>/dev/null || true)"
wt log --oneline "$BASE_TAG..HEAD" | sed 's/^/  /'
dirty=$(wt status --porcelain --untracked-files=no)
[ -z "$dirty" ] || { echo "uncommitted changes:"; echo "$dirty" | sed 's/^/  /'; }
case $state in
    synced)   echo "state: SYNCED - patches/ matches the work tree" ;;
    ahead)    echo "state: AHEAD - the work tree has work not in patches/: commit it, then 'make export' and commit patches/" ;;
    behind)   echo "state: BEHIND - patches/ changed since the tree was made: 'make src' updates the tree" ;;
    diverged) echo "state: DIVERGED - both changed: export or discard your work ('make src FORCE=1')" ;;
esac
