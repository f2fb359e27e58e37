# shellcheck shell=bash
# Shared by the guest scripts (sourced after config.sh): the guest a
# 'make' target prepared; one bounded boot of the virt machine with the
# SMMUv3, the PASID test device and a virtio-blk disk behind it; the
# init's markers; the trace and the event records Linux received, decoded.

QEMU=$OBJ_DIR/qemu-system-aarch64
# Fixed slots, so the StreamIDs are known: SID = PCI requester ID.
TESTDEV_ADDR=02.0 TESTDEV_SID=0x10 TESTDEV_BDF=0000:00:02.0
DISK_ADDR=03.0 DISK_SID=0x18
GUEST_TIMEOUT=${GUEST_TIMEOUT:-300}

# guest_env ENV MAKE_TARGET: the guest MAKE_TARGET prepared, as
# write_guest_env described it in ENV.
guest_env() {
    [ -f "$1" ] || die "no $1: run 'make $2'"
    # shellcheck disable=SC1090  # written by write_guest_env
    . "$1"
}
need_qemu() { [ -x "$QEMU" ] || die "$QEMU not built: run 'make build'"; }
write_guest_env() {     # write_guest_env ENV NAME KERNEL INITRD
    printf "GUEST_KERNEL_NAME='%s'\nGUEST_KERNEL_IMAGE='%s'\nGUEST_INITRD='%s'\n" \
        "$2" "$3" "$4" > "$1"
}
# cpio_gz DIR: an initramfs of DIR (newc, gzip), the same for the same files
cpio_gz() { (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -n -1; }

# -d argument enabling these trace events: trace_arg EVENT...
trace_arg() { printf 'trace:%s,' "$@" | sed 's/,$//'; }

# guest_boot OUT SSIDSIZE KERNEL_ARGS [QEMU ARGS...]: boot with the test
# device's SMMU at SSIDSIZE, the init's KERNEL_ARGS, the trace events of
# TRACE_EVENTS into OUT/trace.log and the user's GUEST_QEMU_ARGS; then the
# first check, that the guest ran to the end.  The read-only disk at
# DISK_ADDR holds 16 MiB of random bytes (made once; guest_disk_sha).
guest_boot() {
    need_qemu
    out=$1 trace=$1/trace.log
    fresh_dir "$out"
    local disk=$GUEST_DIR/disk.img ssidsize=$2 append=$3 ok=0
    shift 3
    random_disk "$disk" 16
    guest_disk_sha=$(sha256sum "$disk" | cut -d' ' -f1)
    # shellcheck disable=SC2054,SC2206  # QEMU's commas; the user's words
    local args=(
        -M virt,iommu=smmuv3 -cpu max,pauth-impdef=on -smp 2 -m 1G
        -nographic -nic none -no-reboot
        -kernel "$GUEST_KERNEL_IMAGE" -initrd "$GUEST_INITRD"
        -append "console=ttyAMA0 panic=-1 printk.devkmsg=on $append"
        -global "arm-smmuv3.ssidsize=$ssidsize"
        -drive "file=$disk,if=none,format=raw,id=disk0,readonly=on"
        -device "virtio-blk-pci,drive=disk0,addr=$DISK_ADDR,disable-legacy=on,iommu_platform=on"
        -d "$(trace_arg "${TRACE_EVENTS[@]}")" -D "$trace"
        "$@" ${GUEST_QEMU_ARGS:-})
    echo "== boot: $GUEST_KERNEL_NAME, ssidsize=$ssidsize${append:+, $append} (timeout ${GUEST_TIMEOUT}s)"
    guest_run "${args[@]}"
    grep -aq '^@@ done' "$guest_markers" && [ "$guest_rc" = 0 ] && ok=1
    check "guest ran to the end" $ok "$(guest_end), kernel $(marker kernel)"
}

# guest_run ARGS...: QEMU with ARGS, the command line in $out/command, the
# console in $out/serial.log (and on the terminal with demo=1), stderr in
# $out/qemu.log.  Sets guest_rc (QEMU's exit status), guest_took (seconds)
# and guest_markers ($out/markers.txt: the init's "@@ name value" lines).
guest_run() {
    local serial=$out/serial.log start=$SECONDS
    echo "   qemu-system-aarch64 $*" | sed "s|$TOP/||g" > "$out/command"
    [ "${demo:-0}" = 0 ] || cat "$out/command"
    bounded "$GUEST_TIMEOUT" "$QEMU" "$@" </dev/null 2>"$out/qemu.log" | tr -d '\r' |
        if [ "${demo:-0}" = 1 ]; then tee "$serial"; else cat > "$serial"; fi
    guest_rc=${PIPESTATUS[0]} guest_took=$((SECONDS - start))
    guest_markers=$out/markers.txt
    sed -n -E 's/^(\[[ 0-9.]*\] )?(@@ .*)$/\2/p' "$serial" > "$guest_markers"
}

# How the boot ended, for a check line.
guest_end() {
    if timed_out "$guest_rc"; then echo "QEMU killed after ${GUEST_TIMEOUT}s"
    elif [ "$guest_rc" != 0 ]; then echo "QEMU exit status $guest_rc"
    else echo "powered off after ${guest_took}s"
    fi
}

# marker NAME: the value of the first "@@ NAME ..." marker
marker() { markers "$1" | head -n 1; }
# markers NAME: the values of all of them
markers() { grep -a "^@@ $1 " "$guest_markers" | cut -d' ' -f3- || true; }

# trace_field NAME: the value of the first "NAME=value" in the trace on stdin
trace_field() { sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p" | head -n 1; }
# trace_events: the SMMU events recorded in the trace on stdin
trace_events() { sed -n 's/^smmuv3_record_event SMMU_EVT_\([A-Z_]*\) .*/\1/p'; }

# guest_event MARKER TYPE: the first event record of TYPE for the test
# device in the kernel log lines of MARKER, as "sid=0x.. SSV=n SSID=0x..",
# decoded from the raw dword 0 every kernel version prints after "event
# 0xNN received:" (IHI 0070 7.3: type 7:0, SSV 11, SubstreamID 31:12,
# StreamID 63:32).
guest_event() {
    local dw0
    for dw0 in $(markers "$1" | awk '/event 0x[0-9a-f]+ received:/ { w = 1; next }
            w && match($0, /0x[0-9a-f]+/) { print substr($0, RSTART, RLENGTH); w = 0 }'); do
        if [ $((dw0 & 0xff)) = $(($2)) ] && [ $((dw0 >> 32)) = $((TESTDEV_SID)) ]; then
            printf 'sid=0x%x SSV=%d SSID=0x%x' $((dw0 >> 32)) $(((dw0 >> 11) & 1)) \
                $(((dw0 >> 12) & 0xfffff))
            return
        fi
    done
}

# guest_finish: on failure, where to look; then the closing count.
guest_finish() {
    # shellcheck disable=SC2154  # lib.sh's count
    [ "$failed" = 0 ] || { show_tail "$out/serial.log" 40; show_tail "$out/qemu.log" 10; show_tail "$trace" 10; }
    summary
}
