# shellcheck shell=bash
# Shared by the guest scripts (sourced after config.sh): the guest a
# 'make' target prepared; one bounded boot of the virt machine with the
# SMMUv3, the PASID test device and a virtio-blk disk behind it; the
# init's markers; the trace and the event records Linux received, decoded.

QEMU=$OBJ_DIR/qemu-system-aarch64
# Fixed slots, so the StreamIDs are known: SID = PCI requester ID.
TESTDEV_ADDR=02.0 TESTDEV_SID=0x10 TESTDEV_BDF=0000:00:02.0
DISK_ADDR=03.0 DISK_SID=0x18 DISK_BDF=0000:00:03.0
GUEST_TIMEOUT=${GUEST_TIMEOUT:-300}
# The UEFI firmware of the UEFI + ACPI boot (guest-boot.sh --uefi):
# Debian's AAVMF, fetched and checked like the kernel (config.sh's
# GUEST_KERNEL_SETS explains the format); the first set that downloads.
UEFI_FIRMWARE_SETS=(
    "qemu-efi-aarch64 2026.08+ds-2 (sid)|\
pool/main/e/edk2/qemu-efi-aarch64_2026.08+ds-2_all.deb=30467a3593c099ea42bd6ff3c4590e4b205edf9a7b98844f4bed17cd8b05eb58"
    "qemu-efi-aarch64 2025.02-8+deb13u1 (trixie)|\
pool/main/e/edk2/qemu-efi-aarch64_2025.02-8+deb13u1_all.deb=a00b2411a79c8aeafd95a7c868ac3cd1aab592f1af9fff965f02d81a625276ed"
)

need_qemu() { [ -x "$QEMU" ] || die "$QEMU not built: run 'make build'"; }
# guest_env ENV MAKE_TARGET: the guest MAKE_TARGET described in ENV with
# write_guest_env ENV NAME KERNEL INITRD.
guest_env() {
    [ -f "$1" ] || die "no $1: run 'make $2'"
    # shellcheck disable=SC1090  # written by write_guest_env
    . "$1"
}
write_guest_env() {
    printf "GUEST_KERNEL_NAME='%s'\nGUEST_KERNEL_IMAGE='%s'\nGUEST_INITRD='%s'\n" \
        "$2" "$3" "$4" > "$1"
}
# cpio_gz DIR: an initramfs of DIR (newc, gzip), the same for the same files
cpio_gz() { (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -n -1; }

# guest_boot OUT SSIDSIZE KERNEL_ARGS [QEMU ARGS...]: boot with the SMMU at
# SSIDSIZE, the init's KERNEL_ARGS, TRACE_EVENTS and the user's
# GUEST_QEMU_ARGS (more machine options in MACHINE_OPTS, the RAM size in
# GUEST_MEM, 1G); check that the guest ran to the end.  The read-only disk
# at DISK_ADDR (more device options in DISK_OPTS; it comes after QEMU
# ARGS, which may create its bus): 16 MiB of random bytes (made once;
# guest_disk_sha).  In OUT:
# command, serial.log (the console, shown with demo=1), qemu.log (stderr),
# trace.log ($trace), markers.txt (the init's "@@ name value" lines).
guest_boot() {
    need_qemu
    out=$1 trace=$1/trace.log guest_markers=$1/markers.txt
    fresh_dir "$out"
    local disk=$GUEST_DIR/disk.img ssidsize=$2 append=$3 ok=0 start rc end
    shift 3
    random_disk "$disk" 16
    guest_disk_sha=$(sha256sum "$disk" | cut -d' ' -f1)
    # shellcheck disable=SC2054,SC2206  # QEMU's commas; the user's words
    local args=(
        -M "virt,iommu=smmuv3${MACHINE_OPTS:-}" -cpu max,pauth-impdef=on -smp 2 -m "${GUEST_MEM:-1G}"
        -nographic -nic none -no-reboot
        -kernel "$GUEST_KERNEL_IMAGE" -initrd "$GUEST_INITRD"
        -append "console=ttyAMA0 panic=-1 printk.devkmsg=on $append"
        -global "arm-smmuv3.ssidsize=$ssidsize"
        "$@"
        -drive "file=$disk,if=none,format=raw,id=disk0,readonly=on"
        -device "virtio-blk-pci,drive=disk0,addr=$DISK_ADDR,disable-legacy=on,iommu_platform=on${DISK_OPTS:-}"
        -d "$(IFS=,; echo "${TRACE_EVENTS[*]/#/trace:}")" -D "$trace"
        ${GUEST_QEMU_ARGS:-})
    echo "== boot: $GUEST_KERNEL_NAME, ssidsize=$ssidsize${append:+, $append} (timeout ${GUEST_TIMEOUT}s)"
    echo "   qemu-system-aarch64 ${args[*]}" | sed "s|$TOP/||g" > "$out/command"
    [ "${demo:-0}" = 0 ] || cat "$out/command"
    start=$SECONDS
    bounded "$GUEST_TIMEOUT" "$QEMU" "${args[@]}" </dev/null 2>"$out/qemu.log" | tr -d '\r' |
        if [ "${demo:-0}" = 1 ]; then tee "$out/serial.log"; else cat > "$out/serial.log"; fi
    rc=${PIPESTATUS[0]}
    sed -n -E 's/^(\[[ 0-9.]*\] )?(@@ .*)$/\2/p' "$out/serial.log" > "$guest_markers"
    if timed_out "$rc"; then end="QEMU killed after ${GUEST_TIMEOUT}s"
    elif [ "$rc" != 0 ]; then end="QEMU exit status $rc"
    else end="powered off after $((SECONDS - start))s"
    fi
    grep -aq '^@@ done' "$guest_markers" && [ "$rc" = 0 ] && ok=1
    check "guest ran to the end" $ok "$end, kernel $(marker kernel)"
}

# marker NAME: the value of the first "@@ NAME ..." marker
marker() { markers "$1" | head -n 1; }
# markers NAME: the values of all of them
markers() { grep -a "^@@ $1 " "$guest_markers" | cut -d' ' -f3- || true; }

# trace_field NAME: the value of the first "NAME=value" in the trace on stdin
trace_field() { sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p" | head -n 1; }
# trace_events: the SMMU events recorded in the trace on stdin
trace_events() { sed -n 's/^smmuv3_record_event SMMU_EVT_\([A-Z_]*\) .*/\1/p'; }
# select_cd SID [SSID]: the first smmuv3_select_cd line for SID (and SSID)
select_cd() { grep -m1 "^smmuv3_select_cd sid=$1 ${2:+ssid=$2 }" "$trace"; }

# guest_event MARKER TYPE: the first event record of TYPE for the test
# device in the kernel log lines of MARKER, as "sid=0x.. SSV=n SSID=0x..",
# decoded from the raw dword 0 every kernel version prints after "event
# 0xNN received:" (IHI 0070 7.3: type 7:0, SSV 11, SubstreamID 31:12,
# StreamID 63:32): the first 16-digit number after it, as another
# driver's line may come in between.
guest_event() {
    local dw0
    for dw0 in $(markers "$1" | awk '/event 0x[0-9a-f]+ received:/ { w = 1; next }
            w && match($0, /0x[0-9a-f]+/) && RLENGTH == 18 { print substr($0, RSTART, RLENGTH); w = 0 }'); do
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
