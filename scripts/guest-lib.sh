# shellcheck shell=bash
# Shared by the guest boot tests (guest-boot.sh, guest-vfio.sh): run one
# bounded boot, turn the console into markers, report checks.  Source it
# after config.sh.

# guest_out DIR: an empty log directory for one boot; sets out and trace.
guest_out() {
    out=$1 trace=$1/trace.log
    rm -rf "$out"
    mkdir -p "$out"
}

# guest_disk_prepare ADDR: the read-only disk both boots give a modern
# virtio-blk at PCI address ADDR behind the SMMU: 16 MiB of random bytes,
# made once.  Sets guest_disk_args (QEMU's options for it) and
# guest_disk_sha (the reference for the sha256 the guest reads).
guest_disk_prepare() {
    local disk=$GUEST_DIR/disk.img
    if [ ! -f "$disk" ]; then
        head -c 16M /dev/urandom > "$disk.tmp" && mv "$disk.tmp" "$disk"
    fi
    guest_disk_sha=$(sha256sum "$disk" | cut -d' ' -f1)
    # shellcheck disable=SC2034  # used by the scripts that source this
    guest_disk_args=(
        -drive "file=$disk,if=none,format=raw,id=disk0,readonly=on"
        -device "virtio-blk-pci,drive=disk0,addr=$1,disable-legacy=on,iommu_platform=on"
    )
}

# -d argument enabling these trace events: trace_arg EVENT...
trace_arg() { printf 'trace:%s,' "$@" | sed 's/,$//'; }

# guest_run OUT TIMEOUT DEMO QEMU ARGS...
# Boots QEMU with ARGS and the user's GUEST_QEMU_ARGS, the command line in
# OUT/command (shown with DEMO=1), the console in OUT/serial.log, stderr in
# OUT/qemu.log.  Bounded: timeout ends QEMU (TERM, then KILL), and so does
# leaving early.  DEMO=1 streams the console to the terminal.  Sets
# guest_rc (QEMU's exit status, 124/137 when killed), guest_took
# (seconds, one decimal) and guest_markers (OUT/markers.txt: the init's
# "@@ name value" lines without the kernel log's timestamp).
guest_run() {
    local out=$1 timeout_s=$2 demo=$3 qemu=$4 start qpid tailpid='' t
    shift 4
    local serial=$out/serial.log
    # shellcheck disable=SC2206  # the user's arguments, split on spaces
    set -- "$@" ${GUEST_QEMU_ARGS:-}
    echo "   qemu-system-aarch64 $*" | sed "s|$TOP/||g" > "$out/command"
    [ "$demo" = 0 ] || cat "$out/command"
    start=$(date +%s%N)
    timeout --kill-after=5 "$timeout_s" "$qemu" "$@" \
        </dev/null >"$serial" 2>"$out/qemu.log" &
    qpid=$!
    # (timeout passes TERM on to QEMU)
    # shellcheck disable=SC2064  # expand $qpid now
    trap "kill -TERM $qpid 2>/dev/null || true; wait $qpid 2>/dev/null || true" EXIT
    # shellcheck disable=SC2064
    trap "kill -TERM $qpid 2>/dev/null || true; wait $qpid 2>/dev/null || true; exit 130" INT TERM HUP
    if [ "$demo" = 1 ]; then
        tail -n +1 -f --pid=$qpid "$serial" | tr -d '\r' &
        tailpid=$!
    fi
    guest_rc=0
    wait $qpid || guest_rc=$?
    trap - EXIT INT TERM HUP
    # The console stream ends by itself once QEMU is gone.
    [ -z "$tailpid" ] || wait "$tailpid" || true
    t=$(( ($(date +%s%N) - start) / 100000000 ))   # tenths of a second
    guest_took="$((t / 10)).$((t % 10))"
    [ "$demo" = 0 ] || echo
    tr -d '\r' < "$serial" > "$serial.tmp" && mv "$serial.tmp" "$serial"
    guest_markers=$out/markers.txt
    sed -n -E 's/^(\[[ 0-9.]*\] )?(@@ .*)$/\2/p' "$serial" > "$guest_markers"
}

# How the boot ended, for a check line.
guest_end() {
    if [ "$guest_rc" = 124 ] || [ "$guest_rc" = 137 ]; then
        echo "QEMU killed after $1s"
    elif [ "$guest_rc" != 0 ]; then
        echo "QEMU exit status $guest_rc"
    else
        echo "powered off after ${guest_took}s"
    fi
}

# marker NAME: the value of the first "@@ NAME ..." marker
marker() { grep -a "^@@ $1 " "$guest_markers" | head -n 1 | cut -d' ' -f3- || true; }
# markers NAME: the values of all of them
markers() { grep -a "^@@ $1 " "$guest_markers" | cut -d' ' -f3- || true; }

fails=0
check() {   # check NAME OK(0/1) DETAIL
    if [ "$2" = 1 ]; then
        printf 'PASS  %-38s %s\n' "$1" "$3"
    else
        printf 'FAIL  %-38s %s\n' "$1" "$3"; fails=$((fails + 1))
    fi
}

# On failure: where to look.
guest_dump() {
    local out=$1
    echo "---- serial console, last 40 lines ($out/serial.log)"
    tail -n 40 "$out/serial.log"
    echo "---- QEMU stderr ($out/qemu.log)"
    tail -n 10 "$out/qemu.log"
    echo "---- trace, last 10 lines ($out/trace.log)"
    tail -n 10 "$out/trace.log" 2>/dev/null
}
