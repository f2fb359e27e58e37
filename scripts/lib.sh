# shellcheck shell=bash
# What the scripts here share (config.sh sources it): messages, verdicts
# and the closing count, bounded runs, TAP logs, scratch files.

note() { echo "== $*"; }
die() { echo "ERROR: $*" >&2; exit 1; }

# --- verdicts: one line each, "N passed, N failed[, N skipped]" to close
passed=0 failed=0 skipped=0 failures=()

# result PASS|FAIL|SKIP NAME DETAIL: print one verdict and count it.
result() {
    printf '%-4s  %-44s %s\n' "$1" "$2" "$3"
    case $1 in
    PASS) passed=$((passed + 1));;
    SKIP) skipped=$((skipped + 1));;
    *) failed=$((failed + 1)); failures+=("$2");;
    esac
}

# check NAME OK DETAIL: PASS when OK is 1, FAIL otherwise.
check() {
    if [ "$2" = 1 ]; then result PASS "$1" "$3"; else result FAIL "$1" "$3"; fi
}

# verdicts PREFIX [--strict]: a program's own "PASS|FAIL NAME DETAIL"
# lines on stdin become verdicts (NAME prefixed), "LOG FILE" the file's
# tail; other lines pass through.  --strict, for what a guest printed:
# every line is a verdict, anything but PASS fails, and no LOG is shown.
verdicts() {
    local line v name detail
    while IFS= read -r line; do
        read -r v name detail <<<"$line"
        case $v:${2:-} in
        PASS:*|FAIL:*) result "$v" "$1$name" "$detail";;
        *:--strict) result FAIL "$1${name:-?}" "unexpected line: $line";;
        LOG:) show_tail "$name" 15;;
        *) printf '%s\n' "$line";;
        esac
    done
}

# summary: the closing line; false when anything failed.
summary() {
    [ "$failed" = 0 ] || echo "failed: $(printf '%s\n' "${failures[@]}" | paste -sd';' | sed 's/;/; /g')"
    echo "$passed passed, $failed failed$([ "$skipped" = 0 ] || echo ", $skipped skipped")"
    [ "$failed" = 0 ]
}

# bounded SECONDS COMMAND...: TERM after SECONDS, KILL 10 s later; then
# the exit status is one timed_out accepts.  COMMAND stays in our process
# group: ^C, or a kill of the group, ends it too (a qtest's QEMU exits
# with the qtest).
bounded() { timeout --foreground --kill-after=10 "$@"; }
timed_out() { [ "$1" = 124 ] || [ "$1" = 137 ]; }

# TAP logs of QEMU's qtests: the cases that ran and passed (skipped ones
# do not count), the failed ones, and why a bounded run failed (nothing
# when it passed; GLib exits 0 even when every case was skipped).
tap_ok() { grep '^ok ' "$1" | grep -vc '# SKIP'; }
tap_not_ok() { grep -c '^not ok ' "$1"; }
tap_problem() {     # tap_problem LOG STATUS SECONDS
    if timed_out "$2"; then echo "timeout after ${3}s"
    elif [ "$2" != 0 ]; then echo "exit $2"
    elif [ "$(tap_not_ok "$1")" != 0 ]; then echo "$(tap_not_ok "$1") case(s) not ok"
    elif [ "$(tap_ok "$1")" = 0 ]; then echo "no test ran"
    fi
}

# cached FILE SHA256 LOG COMMAND...: FILE, fetched by COMMAND (run in its
# directory, output in LOG) unless it is there with that SHA256; false if
# COMMAND fails or FILE then has another hash.
cached() {
    local file=$1 sha=$2 log=$3
    shift 3
    has_sha() { echo "$sha  $file" | sha256sum -c --status 2>/dev/null; }
    has_sha && return
    mkdir -p "${file%/*}" && rm -f "$file"
    note "downloading ${file##*/}" >&2
    (cd "${file%/*}" && "$@") >"$log" 2>&1 && has_sha
}

# random_disk FILE MIB: MIB of random bytes (no compression or sparse
# file can shortcut it), made once.
random_disk() {
    if [ ! -f "$1" ] || [ "$(stat -c %s "$1")" != $(($2 << 20)) ]; then
        head -c "$2M" /dev/urandom > "$1.tmp" && mv "$1.tmp" "$1"
    fi
}
fresh_dir() { rm -rf "$1" && mkdir -p "$1"; }
# show_tail FILE N: the last N lines of a log, for a failure report
show_tail() { echo "---- $1, last $2 lines"; tail -n "$2" "$1" 2>/dev/null | sed 's/^/    | /'; }
# The patches patches/series lists, in order
series_patches() { sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$PATCH_DIR/series" 2>/dev/null; }
