#!/bin/bash
# Boot Debian's arm64 kernel on the patched QEMU's virt machine with the
# SMMUv3 (SubstreamIDs on), the PASID test device and a virtio-blk disk
# behind the SMMU, and check what Linux's arm-smmu-v3 driver did - from the
# guest's side (markers printed by tests/guest/init) and from QEMU's side
# (trace events).  Prints one PASS/FAIL line per check; exit 0 if all pass.
#
#   guest-boot.sh [--ssidsize N] [--demo] [--timeout SECONDS]
#
# --demo streams the serial console to the terminal.  Logs: serial.log,
# trace.log and qemu.log in $BUILD_DIR/test-logs/guest-ssidsizeN/.
# Extra QEMU arguments: GUEST_QEMU_ARGS.  Run fetch-guest.sh first.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

ssidsize=20 demo=0 timeout_s=${GUEST_TIMEOUT:-300}
while [ $# -gt 0 ]; do
    case "$1" in
    --ssidsize) ssidsize=$2; shift 2;;
    --demo) demo=1; shift;;
    --timeout) timeout_s=$2; shift 2;;
    *) die "usage: $0 [--ssidsize N] [--demo] [--timeout SECONDS]";;
    esac
done

QEMU=$OBJ_DIR/qemu-system-aarch64
[ -x "$QEMU" ] || die "$QEMU not built: run 'make build'"
[ -f "$GUEST_DIR/guest.env" ] || die "no guest prepared: run 'make guest'"
. "$GUEST_DIR/guest.env"

# Fixed slots, so the StreamIDs are known: SID = PCI requester ID.
TESTDEV_ADDR=02.0 TESTDEV_SID=0x10 TESTDEV_BDF=0000:00:02.0
DISK_ADDR=03.0 DISK_SID=0x18
PASID_WIDTH=20          # the test device's Max PASID Width (its default)

guest_out "$BUILD_DIR/test-logs/guest-ssidsize$ssidsize"

guest_disk_prepare "$DISK_ADDR"

TRACE_EVENTS=(smmuv3_select_cd smmuv3_get_l1cd smmuv3_cd_addr_linear
              smmuv3_get_cd smmuv3_record_event pasid_testdev_run
              pasid_testdev_done pci_dma_pasid_refused)
# shellcheck disable=SC2054  # commas belong to QEMU's option syntax
qemu_args=(
    -M virt,iommu=smmuv3 -cpu max,pauth-impdef=on -smp 2 -m 1G
    -nographic -nic none -no-reboot
    -kernel "$GUEST_KERNEL_IMAGE" -initrd "$GUEST_INITRD"
    -append "console=ttyAMA0 panic=-1 printk.devkmsg=on"
    -global arm-smmuv3.ssidsize="$ssidsize"
    -device "pcie-pasid-testdev,addr=$TESTDEV_ADDR,pasid-width=$PASID_WIDTH"
    "${guest_disk_args[@]}"
    -d "$(trace_arg "${TRACE_EVENTS[@]}")" -D "$trace"
)

echo "== boot: $GUEST_KERNEL_NAME, ssidsize=$ssidsize (timeout ${timeout_s}s)"

guest_run "$out" "$timeout_s" $demo "$QEMU" "${qemu_args[@]}"
rc=$guest_rc

# --- what the guest reported -------------------------------------------
# Checks look for things that may be missing: no errexit from here on.
set +e
probe_dmesg() { markers dmesg; }
after_dmesg() { markers after_probe; }

echo "== checks: Linux's arm-smmu-v3 on the SMMUv3 with ssidsize=$ssidsize"

# Expected: Linux gives the test device min(SSIDSIZE, Max PASID Width)
# SSID bits, a linear CD table up to 1024 CDs (CTXDESC_L2_ENTRIES) and
# 2-level with 64 KB leaves (1024 CDs each) above; S1DSS = substream 0.
# Without SubstreamIDs (ssidsize=0) the STE points at a single CD.
exp_bits=$(( ssidsize < PASID_WIDTH ? ssidsize : PASID_WIDTH ))
if [ $exp_bits -gt 10 ]; then exp_fmt=2; exp_fmt_name="2-level, 64 KB leaves"
elif [ $exp_bits -gt 0 ]; then exp_fmt=0; exp_fmt_name="linear, $((1 << exp_bits)) CDs"
else exp_fmt=0; exp_fmt_name="single CD"
fi

ok=0; grep -aq '^@@ done' "$guest_markers" && [ $rc = 0 ] && ok=1
check "guest ran to the end" $ok "$(guest_end "$timeout_s"), kernel $(marker kernel)"

probe=$(probe_dmesg | grep -aE 'arm-smmu-v3 [^ ]+: .*(ias|oas) [0-9]+-bit' | head -n 1)
bad=$(probe_dmesg | grep -aiE 'arm-smmu-v3.*(fail|error|unable|unhandled|timeout|disabl)' | head -n 1)
ok=0; [ -n "$probe" ] && [ -z "$bad" ] && ok=1
check "arm-smmu-v3 probed the SMMU" $ok "${bad:-${probe#*] }}"

# "No SMMU event": none in the guest's log up to the probes below, none
# recorded by QEMU before the test device's first transfer.
gev=$(probe_dmesg | grep -ac 'arm-smmu-v3.*event' || true)
qev=$(sed -n '/^pasid_testdev_run/q;/^smmuv3_record_event/p' "$trace" | wc -l)
ok=0; [ "$gev" = 0 ] && [ "$qev" = 0 ] && ok=1
check "no SMMU event during boot" $ok "guest logged $gev, QEMU recorded $qev"

td=$(marker testdev)
pcap=$(marker pasid_cap)
ctrl=$(echo "$pcap" | sed -n 's/.*control=\(0x[0-9a-f]*\).*/\1/p')
if [ "$ssidsize" -gt 0 ]; then
    ok=0; [ -n "$ctrl" ] && [ $((ctrl & 1)) = 1 ] && ok=1
    check "Linux enabled PASID on the device" $ok "$TESTDEV_BDF ${td#* } PASID cap: ${pcap:-not seen}"
else
    printf 'INFO  %-38s %s\n' "PASID capability (not checked)" "$TESTDEV_BDF PASID cap: ${pcap:-not seen}"
fi

guest_sha=$(marker disk_sha256)
ok=0; [ "$guest_sha" = "$guest_disk_sha" ] && ok=1
check "virtio-blk DMA through the SMMU" $ok "guest sha256 ${guest_sha:0:16}… host ${guest_disk_sha:0:16}… ($(marker disk))"

# --- what QEMU saw --------------------------------------------------------
# select_cd FIELD SID SSID: a field of the first smmuv3_select_cd line.
select_cd_line() {
    grep -m1 "^smmuv3_select_cd sid=$1 ssid=$2 " "$trace" || true
}
field() { echo "$2" | sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p"; }
# The CD fetched right after a smmuv3_select_cd line.
cd_after() {
    grep -A3 -m1 "^smmuv3_select_cd sid=$1 ssid=$2 " "$trace" |
        sed -n 's/^smmuv3_get_cd CD \([0-9]*\) .*/\1/p' | head -n 1
}
event_after() {     # the first event recorded after the run with $1
    sed -n "/^pasid_testdev_run.* tagged $1 /,\$p" "$trace" |
        sed -n 's/^smmuv3_record_event SMMU_EVT_\([A-Z_]*\) .*/\1/p' | head -n 1
}

ste=$(select_cd_line $TESTDEV_SID 0xffffffff)
cdmax=$(field S1CDMax "$ste") fmt=$(field S1Fmt "$ste") dss=$(field S1DSS "$ste")
ok=0; [ "$cdmax" = "$exp_bits" ] && ok=1
check "SSID bits: $exp_bits" $ok \
    "test device STE.S1CDMax=${cdmax:-?} (SMMU SSIDSIZE=$ssidsize, device Max PASID Width=$PASID_WIDTH)"
ok=0
if [ "$exp_bits" = 0 ]; then
    [ "$cdmax" = 0 ] && ok=1
else
    [ "$fmt" = "$exp_fmt" ] && [ "$dss" = 2 ] && ok=1
fi
check "CD table: $exp_fmt_name" $ok \
    "S1Fmt=${fmt:-?} S1DSS=${dss:-?}$([ $exp_bits = 0 ] || echo " (want S1Fmt=$exp_fmt, S1DSS=2: untagged DMA uses CD 0)")"

# The event records Linux dumped after the probes, as "TYPE SID SSV SSID"
# decoded from the raw dword 0 every kernel version prints after "event
# 0xNN received:" (IHI 0070 7.3: type 7:0, SSV 11, SubstreamID 31:12,
# StreamID 63:32).
guest_event() {     # guest_event TYPE: the first record of that type
    local dw0
    for dw0 in $(after_dmesg | awk '/event 0x[0-9a-f]+ received:/ { w = 1; next }
            w && match($0, /0x[0-9a-f]+/) { print substr($0, RSTART, RLENGTH); w = 0 }'); do
        if [ $((dw0 & 0xff)) = $(($1)) ] && [ $((dw0 >> 32)) = $((TESTDEV_SID)) ]; then
            printf 'sid=0x%x SSV=%d SSID=%d' $((dw0 >> 32)) $(((dw0 >> 11) & 1)) \
                $(((dw0 >> 12) & 0xfffff))
            return
        fi
    done
}

cd0=$(cd_after $TESTDEV_SID 0xffffffff)
ev=$(event_after 0)
gsaw=$(guest_event 0x10)
ok=0; [ "$cd0" = 0 ] && [ "$ev" = F_TRANSLATION ] && [ "${gsaw#* }" = "SSV=0 SSID=0" ] && ok=1
check "untagged DMA used CD 0" $ok \
    "QEMU: CD ${cd0:-?}, then ${ev:-no event} (nothing mapped at the IOVA); guest read F_TRANSLATION ${gsaw:-: none}"

if [ "$ssidsize" -gt 0 ]; then
    want=C_BAD_CD want_id=0x0a want_rec="SSV=1 SSID=5"; cd5=$(cd_after $TESTDEV_SID 0x5)
else
    # No SSV in C_BAD_SUBSTREAMID: its SubstreamID is always valid (7.3.9)
    want=C_BAD_SUBSTREAMID want_id=0x08 want_rec="SSV=0 SSID=5" cd5=none
fi
ev=$(event_after 1)
gsaw=$(guest_event $want_id)
ok=0; [ "$ev" = "$want" ] && [ "${gsaw#* }" = "$want_rec" ] && { [ "$ssidsize" = 0 ] || [ "$cd5" = 5 ]; } && ok=1
check "PASID 5 DMA: $want" $ok \
    "QEMU: CD ${cd5:-?}, then ${ev:-no event}; guest read $want ${gsaw:-: none}"

# Each probe is one refused page-aligned 4 KiB write: one transaction, so
# one event record each, not one per 4-byte piece of it.
nev=$(sed -n '/^pasid_testdev_run/,$p' "$trace" | grep -c '^smmuv3_record_event' || true)
ok=0; [ "$nev" = 2 ] && ok=1
check "one event per refused 4 KiB write" $ok "QEMU recorded $nev for the two probes"

dste=$(select_cd_line $DISK_SID 0xffffffff)
ok=0; [ "$(field S1CDMax "$dste")" = 0 ] && ok=1
check "virtio-blk STE: single CD" $ok "S1CDMax=$(field S1CDMax "$dste") (no PASID capability)"

if [ $fails != 0 ]; then
    guest_dump "$out"
    exit 1
fi
