# Work-tree helpers shared by mkworktree.sh, export.sh and status.sh
# (sourced after config.sh).

SYNC_STAMP=$WORK_TREE/.git/pasid-synced-patches

# Options that make 'git format-patch' output depend only on the commits:
# no commit hashes, no git version signature, no "n/m" numbering (adding a
# patch would otherwise rewrite every subject), full blob ids (abbreviation
# length depends on the repository's size).
FORMAT_PATCH_OPTS=(--zero-commit --no-signature --no-numbered --no-thread
                   --full-index --no-cover-letter --stat=80)

wt() { git -C "$WORK_TREE" "$@"; }

# Hash of what patches/ holds (series + the files it lists).
patches_hash() {
    (cd "$PATCH_DIR" && cat series 2>/dev/null &&
        while read -r p; do
            case "$p" in ''|'#'*) continue;; esac
            cat "$p"
        done < <(cat series 2>/dev/null)) | sha256sum | cut -d' ' -f1
}

# Write the work tree's commits since the base tag as a series into $1.
export_into() {
    local out=$1
    mkdir -p "$out"
    wt -c core.quotepath=off format-patch "${FORMAT_PATCH_OPTS[@]}" \
        -o "$out" "$BASE_TAG..HEAD" >/dev/null
    (cd "$out" && ls -1 *.patch 2>/dev/null | sort > series) || true
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
    local tmp same=0 dirty=0 pchanged=0
    tmp=$(mktemp -d)
    export_into "$tmp"
    [ "$(patches_hash)" = "$(PATCH_DIR=$tmp patches_hash)" ] && same=1
    rm -rf "$tmp"
    [ -z "$(wt status --porcelain --untracked-files=no)" ] || dirty=1
    [ "$(cat "$SYNC_STAMP" 2>/dev/null)" = "$(patches_hash)" ] || pchanged=1
    if [ $same = 1 ] && [ $dirty = 0 ]; then echo synced
    elif [ $pchanged = 0 ]; then echo ahead
    elif [ $same = 0 ] && wt diff --quiet && [ "$(cat "$WORK_TREE/.git/pasid-synced-head" 2>/dev/null)" = "$(wt rev-parse HEAD)" ]; then
        echo behind
    else echo diverged
    fi
}

mark_synced() {
    patches_hash > "$SYNC_STAMP"
    wt rev-parse HEAD > "$WORK_TREE/.git/pasid-synced-head"
}
