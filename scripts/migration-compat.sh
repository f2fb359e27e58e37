#!/bin/bash
# Migration compatibility of the series with unpatched QEMU 10.2.2: with
# ssidsize=0 (the default) the patched SMMUv3 must send the same state as
# before, so a saved VM moves between the patched and the unpatched binary
# in both directions.  With ssidsize=20 the patched SMMUv3 adds its
# 'smmuv3/ssid' subsection: a patched destination with ssidsize=20 loads
# it, and one with another ssidsize, or an unpatched one, must refuse it.
#
# Each migrating case boots Debian's arm64 kernel on the source binary with
# a virtio-blk disk behind the SMMUv3 and our init in hold mode
# (pasidtest=loop: it hashes the whole disk once a second, by DMA through
# the SMMU, and prints "@@ tick N sha256=... smmu_events=K"), stops it and
# saves it to a file with QMP 'migrate' (file: URI), then loads the file
# into the destination binary (-incoming defer, migrate-incoming), 'cont's
# it and requires two more ticks with the disk's hash and no SMMU event.
#
#   migration-compat.sh [--timeout SECONDS] [CASE...]
#
# Cases (default all): p0-u u-p0 p20-p20 p20-p0 p20-u (p = patched with
# that ssidsize, u = unpatched; the last two load p20-p20's stream).
#
# Binaries: $OBJ_DIR (make build) and $BUILD_DIR/obj-base, built by
# build-unpatched.sh when missing.  Logs: $BUILD_DIR/test-logs/migration/.
# Prints PASS/FAIL per case and "N passed, N failed"; exit 0 if all pass.
set -euo pipefail
. "$(dirname "$0")/config.sh"

ALL_CASES="p0-u u-p0 p20-p20 p20-p0 p20-u"
timeout_s=${MIGRATION_TIMEOUT:-300} cases=()
while [ $# -gt 0 ]; do
    case "$1" in
    --timeout) timeout_s=$2; shift 2;;
    -*) die "usage: $0 [--timeout SECONDS] [CASE...] (cases: $ALL_CASES)";;
    *) [[ " $ALL_CASES " = *" $1 "* ]] || die "no case $1 (cases: $ALL_CASES)"
       cases+=("$1"); shift;;
    esac
done
[ ${#cases[@]} -gt 0 ] || read -r -a cases <<<"$ALL_CASES"
# The refusal cases load the ssidsize=20 stream of p20-p20.
case " ${cases[*]} " in
*" p20-p0 "*|*" p20-u "*) [[ " ${cases[*]} " = *" p20-p20 "* ]] || cases=(p20-p20 "${cases[@]}");;
esac
want() { [[ " ${cases[*]} " = *" $1 "* ]]; }

PATCHED=$OBJ_DIR/qemu-system-aarch64
UNPATCHED=${BASE_OBJ:-$BUILD_DIR/obj-base}/qemu-system-aarch64
QMP="/usr/bin/python3 $TOP/scripts/qmp.py"
[ -x "$PATCHED" ] || die "$PATCHED not built: run 'make build'"
if [[ " ${cases[*]} " = *u* ]] && [ ! -x "$UNPATCHED" ]; then
    bash "$TOP/scripts/build-unpatched.sh"
fi
# The guest, with the current init (its hold mode) in the initramfs.
if [ ! -f "$GUEST_DIR/guest.env" ] || ! cmp -s "$TOP/tests/guest/init" "$GUEST_DIR/stage/init"; then
    bash "$TOP/scripts/fetch-guest.sh"
fi
. "$GUEST_DIR/guest.env"

out=$BUILD_DIR/test-logs/migration
rm -rf "$out"
mkdir -p "$out"

# The disk: 16 MiB of random bytes; its hash is what every tick must show.
disk=$out/disk.img
head -c 16M /dev/urandom > "$disk"
disk_sha=$(sha256sum "$disk" | cut -d' ' -f1)

# Every QEMU started here, ended on the way out whatever happens.
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
# Clean up before anything else: with stdout a closed pipe, bash's own
# "Terminated" notice would end it by SIGPIPE before the EXIT trap.
trap 'cleanup; exit 130' INT TERM HUP

# shellcheck disable=SC2054  # commas belong to QEMU's option syntax
common_args=(
    -M virt,iommu=smmuv3 -cpu max,pauth-impdef=on -m 1G
    -nic none -nographic -no-reboot
    -kernel "$GUEST_KERNEL_IMAGE" -initrd "$GUEST_INITRD"
    # printk.devkmsg=on: the init may write its markers to /dev/kmsg.
    -append "console=ttyAMA0 panic=-1 printk.devkmsg=on pasidtest=loop"
    -drive "file=$disk,if=none,format=raw,id=disk0,readonly=on"
    -device virtio-blk-pci,drive=disk0,addr=03.0,disable-legacy=on,iommu_platform=on
    # The SMMU's complaints and the events it records, on stderr.
    -d guest_errors,trace:smmuv3_record_event
)

# qemu_args BINARY-KIND: the arguments for "patched:SSIDSIZE" or "unpatched".
qemu_args() {
    local a=("${common_args[@]}")
    case "$1" in
    patched:*) a+=(-global "arm-smmuv3.ssidsize=${1#patched:}");;
    esac
    printf '%s\n' "${a[@]}"
}
qemu_bin() { case "$1" in patched:*) echo "$PATCHED";; *) echo "$UNPATCHED";; esac; }

# start_qemu NAME KIND [EXTRA ARGS...]: run QEMU in the background with a
# QMP socket $out/NAME.qmp, console $out/NAME.serial, stderr $out/NAME.err;
# sets qpid.
start_qemu() {
    local name=$1 kind=$2 args
    shift 2
    mapfile -t args < <(qemu_args "$kind")
    args+=(-qmp "unix:$out/$name.qmp,server=on,wait=off" "$@")
    echo "$(qemu_bin "$kind") ${args[*]}" | sed "s|$TOP/||g" > "$out/$name.command"
    timeout --kill-after=5 "$timeout_s" "$(qemu_bin "$kind")" "${args[@]}" \
        </dev/null >"$out/$name.serial" 2>"$out/$name.err" &
    qpid=$!
    pids+=("$qpid")
}

# stop_qemu PID SOCKET: 'quit' over QMP, then make sure it is gone.
stop_qemu() {
    $QMP -t 10 "$2" quit >/dev/null 2>&1 || true
    local i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# The init's marker lines in a console log, without the kernel log's
# timestamp if they went through it.
markers() {
    tr -d '\r' < "$1" | sed -n 's/^\[[ 0-9.]*\] //; /^@@ /p'
}
# Complete tick lines of a console log, as "N SHA EVENTS".
ticks() {
    markers "$1" |
        sed -n 's/^@@ tick \([0-9]*\) sha256=\([0-9a-f]*\|none\) smmu_events=\([0-9]*\)$/\1 \2 \3/p'
}
last_tick() { ticks "$1" | tail -n 1 | cut -d' ' -f1; }

# wait_ticks LOG PID N: wait until LOG holds tick N (or QEMU exits, or the
# timeout); true if it did.
wait_ticks() {
    local deadline=$(( $(date +%s) + timeout_s ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$(last_tick "$1")" -ge "$3" ] 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}

# wait_migration SOCKET: poll query-migrate until it ends; prints the final
# status (and the error, if any).
wait_migration() {
    local deadline=$(( $(date +%s) + timeout_s )) st
    while [ "$(date +%s)" -lt "$deadline" ]; do
        st=$($QMP -t 10 -g status "$1" query-migrate 2>&1) || { echo "qmp: $st"; return 1; }
        case "$st" in
        completed) echo "$st"; return 0;;
        failed|cancelled)
            echo "$st: $($QMP -t 10 -g error-desc "$1" query-migrate 2>&1)"; return 1;;
        esac
        sleep 0.2
    done
    echo "timeout (status ${st:-none})"
    return 1
}

# The lines of a QEMU's stderr that concern the SMMU.
smmu_errors() { grep -aiE 'smmu' "$1" || true; }

passed=0 failed=0
result() {  # result NAME OK DETAIL
    if [ "$2" = 1 ]; then
        printf 'PASS  %-46s %s\n' "$1" "$3"; passed=$((passed + 1))
    else
        printf 'FAIL  %-46s %s\n' "$1" "$3"; failed=$((failed + 1))
    fi
}
# fail NAME WHY LOGS...: a failed case, with the tail of its logs.
fail() {
    local name=$1 why=$2 f
    shift 2
    result "$name" 0 "$why"
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "---- ${f#"$TOP/"} (last 15 lines)"
        tr -d '\r' < "$f" | tail -n 15 | sed 's/^/     /'
    done
}
secs() { echo $(( $(date +%s) - $1 )); }

# save NAME KIND: boot KIND, wait for 2 ticks, stop, migrate to
# $out/NAME.state.  Sets save_tick (the last tick before the stop) and
# save_info; false (with save_info saying why) if anything failed.
save() {
    local name=$1 kind=$2 st bad
    save_info=
    start_qemu "$name-src" "$kind"
    local pid=$qpid sock=$out/$name-src.qmp serial=$out/$name-src.serial
    if ! wait_ticks "$serial" "$pid" 2; then
        save_info="source: no '@@ tick 2' within ${timeout_s}s"
        kill -0 "$pid" 2>/dev/null || save_info="source: QEMU exited before '@@ tick 2'"
        stop_qemu "$pid" "$sock"
        return 1
    fi
    if ! st=$($QMP -t 20 "$sock" stop 2>&1); then
        save_info="source: stop: $st"; stop_qemu "$pid" "$sock"; return 1
    fi
    save_tick=$(last_tick "$serial")
    if ! st=$($QMP -t 20 "$sock" migrate "{\"uri\": \"file:$out/$name.state\"}" 2>&1); then
        save_info="source: migrate: $st"; stop_qemu "$pid" "$sock"; return 1
    fi
    if ! st=$(wait_migration "$sock"); then
        save_info="source: migration $st"; stop_qemu "$pid" "$sock"; return 1
    fi
    stop_qemu "$pid" "$sock"
    # Every tick of the source right, no SMMU complaint.
    bad=$(ticks "$serial" | awk -v sha="$disk_sha" '$2 != sha || $3 != 0' | head -n 1)
    if [ -n "$bad" ]; then
        save_info="source: bad tick '$bad'"; return 1
    fi
    bad=$(smmu_errors "$out/$name-src.err" | head -n 1)
    if [ -n "$bad" ]; then
        save_info="source stderr: $bad"; return 1
    fi
    save_info="saved $(( $(stat -c %s "$out/$name.state") / 1024 / 1024 )) MiB after tick $save_tick"
}

# load NAME KIND: start KIND with -incoming defer, load $out/NAME.state;
# sets dst_pid and load_info; false if the load failed.
load() {
    local name=$1 kind=$2 st
    start_qemu "$name-dst" "$kind" -S -incoming defer
    dst_pid=$qpid
    local sock=$out/$name-dst.qmp
    # exit-on-error=false: a failed load is reported by query-migrate
    # instead of ending QEMU, so the error can be read back.
    if ! st=$($QMP -t 20 "$sock" migrate-incoming \
            "{\"uri\": \"file:$out/$name.state\", \"exit-on-error\": false}" 2>&1); then
        load_info="migrate-incoming: $st"; return 1
    fi
    if ! st=$(wait_migration "$sock"); then
        load_info="load $st"; return 1
    fi
    load_info="loaded"
}

# migrate_case NAME SRC-KIND DST-KIND WANT-SSID(0/1): the whole round trip.
migrate_case() {
    local name=$1 src=$2 dst=$3 want_ssid=$4
    local title="$src -> $dst" t0 t1 st n has bad first
    t0=$(date +%s)
    if ! save "$name" "$src"; then
        fail "$title" "$save_info" "$out/$name-src.serial" "$out/$name-src.err"
        return
    fi
    # The subsection is in the stream exactly when ssidsize is non-zero.
    has=0
    grep -aqF 'smmuv3/ssid' "$out/$name.state" && has=1
    if [ "$has" != "$want_ssid" ]; then
        fail "$title" "stream $([ $has = 1 ] && echo contains || echo lacks) 'smmuv3/ssid' ($save_info)"
        return
    fi
    t1=$(date +%s)
    if ! load "$name" "$dst"; then
        fail "$title" "destination: $load_info" "$out/$name-dst.err"
        stop_qemu "$dst_pid" "$out/$name-dst.qmp"
        return
    fi
    local sock=$out/$name-dst.qmp serial=$out/$name-dst.serial
    if ! st=$($QMP -t 20 "$sock" cont 2>&1); then
        fail "$title" "destination: cont: $st" "$out/$name-dst.err"
        stop_qemu "$dst_pid" "$sock"
        return
    fi
    if ! wait_ticks "$serial" "$dst_pid" $((save_tick + 2)); then
        fail "$title" "destination: no 2 ticks after tick $save_tick within ${timeout_s}s" \
            "$serial" "$out/$name-dst.err"
        stop_qemu "$dst_pid" "$sock"
        return
    fi
    stop_qemu "$dst_pid" "$sock"
    # The same guest carried on: no new boot, the ticks go on from the
    # source's, each with the disk's hash and no SMMU event.
    if markers "$serial" | grep -q '^@@ kernel '; then
        fail "$title" "destination: the guest booted again" "$serial"; return
    fi
    n=$(ticks "$serial" | awk -v t="$save_tick" '$1 > t' | wc -l)
    first=$(ticks "$serial" | head -n 1 | cut -d' ' -f1)
    bad=$(ticks "$serial" | awk -v sha="$disk_sha" '$2 != sha || $3 != 0' | head -n 1)
    if [ -n "$bad" ]; then
        fail "$title" "destination: bad tick '$bad' (want sha256=${disk_sha:0:16}… smmu_events=0)" "$serial"
        return
    fi
    if [ "$first" -gt $((save_tick + 1)) ]; then
        fail "$title" "destination: ticks resumed at $first, source stopped after $save_tick" "$serial"
        return
    fi
    bad=$(smmu_errors "$out/$name-dst.err" | head -n 1)
    if [ -n "$bad" ]; then
        fail "$title" "destination stderr: $bad" "$out/$name-dst.err"
        return
    fi
    result "$title" 1 "$save_info, $n ticks after resume, sha256 ok, 0 SMMU events; stream $([ "$want_ssid" = 1 ] && echo has || echo has no) smmuv3/ssid (save $((t1 - t0)) s, load+run $(secs "$t1") s)"
}

# refuse_case NAME STATE DST-KIND WANT: loading STATE into DST-KIND must
# fail with an error containing WANT.
refuse_case() {
    local name=$1 state=$2 dst=$3 want=$4 t0
    local title="$state stream -> $dst (refused)"
    t0=$(date +%s)
    if [ ! -f "$out/$state.state" ]; then
        fail "$title" "no $state.state (its case failed)"; return
    fi
    ln -s "$state.state" "$out/$name.state"
    if load "$name" "$dst"; then
        fail "$title" "destination loaded it" "$out/$name-dst.err"
        stop_qemu "$dst_pid" "$out/$name-dst.qmp"
        return
    fi
    stop_qemu "$dst_pid" "$out/$name-dst.qmp"
    local err
    # The reason: on stderr (error_report) or in query-migrate's error-desc.
    err=$( { echo "$load_info"; cat "$out/$name-dst.err"; } | grep -aF -m1 "$want" || true)
    if [ -z "$err" ]; then
        fail "$title" "refused, but not with '$want': $load_info" "$out/$name-dst.err"
        return
    fi
    result "$title" 1 "'$err' ($(secs "$t0") s)"
}

# The device description QEMU appends to a stream (QEMU_VM_VMDESCRIPTION:
# 0x06, a big-endian 32-bit length, JSON) of two streams, compared.
read -r -d '' VMDESC_PY <<'PY' || true
import json, sys

def vmdesc(path):
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - (1 << 20)))
        tail = f.read()
    k = tail.rfind(b'"page_size"')
    while k > 0:
        k = tail.rfind(b"{", 0, k)
        if k >= 5 and tail[k - 5] == 6 and \
                k + int.from_bytes(tail[k - 4:k], "big") == len(tail):
            return json.loads(tail[k:])
    sys.exit(f"no device description at the end of {path}")

a, b = (vmdesc(p) for p in sys.argv[1:3])
if a == b:
    print(f"{len(a['devices'])} device sections, same fields and subsections")
    sys.exit(0)
diff = sorted({x["name"] for x in a["devices"] if x not in b["devices"]} |
              {x["name"] for x in b["devices"] if x not in a["devices"]})
sys.exit(f"device sections that differ: {' '.join(diff) or '(order only)'}")
PY

# layout_case A B: the streams of cases A and B describe the same devices
# with the same fields (ssidsize=0 patched and unpatched: they must).
layout_case() {
    local title="stream layout: $1 = $2" st
    if [ ! -f "$out/$1.state" ] || [ ! -f "$out/$2.state" ]; then
        fail "$title" "a stream is missing (its case failed)"; return
    fi
    if st=$(/usr/bin/python3 -c "$VMDESC_PY" "$out/$1.state" "$out/$2.state" 2>&1); then
        result "$title" 1 "$st"
    else
        fail "$title" "$st"
    fi
}

echo "== migration: patched $PATCHED"
echo "              unpatched $UNPATCHED"
echo "   guest $GUEST_KERNEL_NAME, disk sha256 ${disk_sha:0:16}…, logs ${out#"$TOP/"}/"
! want p0-u || migrate_case p0-u patched:0 unpatched 0
! want u-p0 || migrate_case u-p0 unpatched patched:0 0
! { want p0-u && want u-p0; } || layout_case p0-u u-p0
! want p20-p20 || migrate_case p20-p20 patched:20 patched:20 1
# Negative controls with the ssidsize=20 stream: no boot needed.
! want p20-p0 || refuse_case p20-p0 p20-p20 patched:0 "ssidsize=20 on the source, 0 here"
! want p20-u || refuse_case p20-u p20-p20 unpatched \
    "VM subsection 'smmuv3/ssid' in 'smmuv3' does not exist"
# The states (~100 MiB each) are kept only with MIGRATION_KEEP=1.
[ "${MIGRATION_KEEP:-0}" = 1 ] || rm -f "$out"/*.state "$disk"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
