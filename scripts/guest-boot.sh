#!/bin/bash
# Boot Debian's arm64 kernel on the virt machine with the SMMUv3, the PASID
# test device and a virtio-blk disk behind it, and check what Linux's
# arm-smmu-v3 driver did, from the guest's side (tests/guest/init's
# markers) and from QEMU's (trace events).
#   guest-boot.sh [--ssidsize N] [--ats] [--uefi] [--demo]   (--demo: the
#   console streams; --ats: the SMMU, the disk and the test device with
#   ATS; --uefi: through Debian's UEFI firmware, which hands Linux ACPI
#   tables - the IORT - instead of a device tree)
# Logs in $BUILD_DIR/test-logs/guest-ssidsizeN[-ats][-uefi]/; GUEST_TIMEOUT
# (300 s), GUEST_QEMU_ARGS (more QEMU options).
set -uo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

ssidsize=20 demo=0 ats=0 uefi=0
while [ $# -gt 0 ]; do
    case "$1" in
    --ssidsize) ssidsize=$2; shift 2;;
    --ats) ats=1; shift;;
    --uefi) uefi=1; shift;;
    --demo) demo=1; shift;;
    *) die "usage: $0 [--ssidsize N] [--ats] [--uefi] [--demo]";;
    esac
done
guest_env "$GUEST_DIR/guest.env" guest
PASID_WIDTH=20          # the test device's Max PASID Width (its default)

TRACE_EVENTS=(smmuv3_select_cd smmuv3_get_l1cd smmuv3_cd_addr_linear
              smmuv3_get_cd smmuv3_record_event pasid_testdev_run
              pasid_testdev_done pci_dma_pasid_refused)
ats_args=() testdev_ats=''
if [ $ats = 1 ]; then
    # virtio-blk has an ATS capability (behind a root port: a PCIe
    # endpoint) but no ATC: Linux enables ATS on it and invalidates, its
    # DMA stays untranslated
    # shellcheck disable=SC2054  # QEMU's commas
    ats_args=(-global arm-smmuv3.ats=on
              -device pcie-root-port,id=ats_rp,bus=pcie.0,addr=04.0,chassis=1)
    testdev_ats=,ats=on DISK_OPTS=,bus=ats_rp,ats=on
    DISK_ADDR=00.0 DISK_SID=0x100 DISK_BDF=0000:01:00.0
    TRACE_EVENTS+=(smmuv3_decode_ste smmuv3_cmdq_atc_inv)
fi
uefi_args=()
if [ $uefi = 1 ]; then
    # The firmware loads the kernel and initramfs QEMU hands it (fw_cfg)
    # and, with acpi=on, installs QEMU's ACPI tables and no device tree.
    # Its variable store is written at boot: a fresh copy each time.
    [ -n "${GUEST_UEFI_DIR:-}" ] || die "no UEFI firmware in $GUEST_DIR/guest.env: run 'make guest'"
    vars=$(mktemp "$GUEST_DIR/uefi-vars.XXXXXX")
    trap 'rm -f "$vars"' EXIT
    cp "$GUEST_UEFI_DIR/AAVMF_VARS.fd" "$vars"
    # shellcheck disable=SC2054  # QEMU's commas
    uefi_args=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$GUEST_UEFI_DIR/AAVMF_CODE.no-secboot.fd"
               -drive "if=pflash,format=raw,unit=1,file=$vars")
    MACHINE_OPTS=,acpi=on
    echo "== firmware: $GUEST_UEFI_NAME"
fi
guest_boot "$BUILD_DIR/test-logs/guest-ssidsize$ssidsize$([ $ats = 0 ] || echo -ats)$([ $uefi = 0 ] || echo -uefi)" \
    "$ssidsize" "" "${uefi_args[@]}" "${ats_args[@]}" \
    -device "pcie-pasid-testdev,addr=$TESTDEV_ADDR,pasid-width=$PASID_WIDTH$testdev_ats"

# --- what the guest reported -------------------------------------------
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

probe=$(markers dmesg | grep -aE 'arm-smmu-v3 [^ ]+: .*(ias|oas) [0-9]+-bit' | head -n 1)
bad=$(markers dmesg | grep -aiE 'arm-smmu-v3.*(fail|error|unable|unhandled|timeout|disabl)' | head -n 1)
ok=0; [ -n "$probe" ] && [ -z "$bad" ] && ok=1
check "arm-smmu-v3 probed the SMMU" $ok "${bad:-${probe#*] }}"

if [ $uefi = 1 ]; then
    # Linux had no device tree, only ACPI tables with an IORT; the SMMU
    # is the platform device the IORT's SMMUv3 node created (a device
    # tree's would be 9050000.smmuv3), and the test device reached it
    # through the IORT's ID mapping of the root complex.
    fw=$(marker firmware) iommu=$(marker testdev_iommu)
    ok=0
    [[ "$fw" == *devicetree=no* && " ${fw#*acpi_tables=} " == *" IORT "* ]] &&
        [[ "$probe" == *"arm-smmu-v3 arm-smmu-v3.0.auto:"* && "$iommu" == */arm-smmu-v3.0.auto/* ]] && ok=1
    check "ACPI boot: the SMMU and the mapping from the IORT" $ok \
        "${fw:-no firmware marker}; test device's IOMMU: ${iommu#/sys/devices/}"
fi

# "No SMMU event": none in the guest's log up to the probes below, none
# recorded by QEMU before the test device's first transfer.
gev=$(markers dmesg | grep -ac 'arm-smmu-v3.*event')
qev=$(sed -n '/^pasid_testdev_run/q;/^smmuv3_record_event/p' "$trace" | wc -l)
ok=0; [ "$gev" = 0 ] && [ "$qev" = 0 ] && ok=1
check "no SMMU event during boot" $ok "guest logged $gev, QEMU recorded $qev"

td=$(marker testdev)
pcap=$(marker pasid_cap)
ctrl=$(echo "$pcap" | trace_field control)
if [ "$ssidsize" -gt 0 ]; then
    ok=0; [ -n "$ctrl" ] && [ $((ctrl & 1)) = 1 ] && ok=1
    check "Linux enabled PASID on the device" $ok "$TESTDEV_BDF ${td#* } PASID cap: ${pcap:-not seen}"
else
    printf 'INFO  %-44s %s\n' "PASID capability (not checked)" "$TESTDEV_BDF PASID cap: ${pcap:-not seen}"
fi

guest_sha=$(marker disk_sha256)
ok=0; [ "$guest_sha" = "$guest_disk_sha" ] && ok=1
check "virtio-blk DMA through the SMMU" $ok "guest sha256 ${guest_sha:0:16}… host ${guest_disk_sha:0:16}… ($(marker disk))"

# --- what QEMU saw --------------------------------------------------------
# cd_after SSID: the CD fetched right after the test device's first
# smmuv3_select_cd for SSID.
cd_after() {
    grep -A3 -m1 "^smmuv3_select_cd sid=$TESTDEV_SID ssid=$1 " "$trace" |
        sed -n 's/^smmuv3_get_cd CD \([0-9]*\) .*/\1/p' | head -n 1
}
# event_after 0|1: the first event recorded after the test device's run
# with that "tagged".
event_after() {
    sed -n "/^pasid_testdev_run.* tagged $1 /,\$p" "$trace" | trace_events | head -n 1
}

ste=$(select_cd $TESTDEV_SID 0xffffffff)
cdmax=$(echo "$ste" | trace_field S1CDMax) fmt=$(echo "$ste" | trace_field S1Fmt)
dss=$(echo "$ste" | trace_field S1DSS)
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

cd0=$(cd_after 0xffffffff)
ev=$(event_after 0)
gsaw=$(guest_event after_probe 0x10)
ok=0; [ "$cd0" = 0 ] && [ "$ev" = F_TRANSLATION ] && [ "${gsaw#* }" = "SSV=0 SSID=0x0" ] && ok=1
check "untagged DMA used CD 0" $ok \
    "QEMU: CD ${cd0:-?}, then ${ev:-no event} (nothing mapped at the IOVA); guest read F_TRANSLATION ${gsaw:-: none}"

if [ "$ssidsize" -gt 0 ]; then
    want=C_BAD_CD want_id=0x0a want_rec="SSV=1 SSID=0x5"; cd5=$(cd_after 0x5)
else
    # No SSV in C_BAD_SUBSTREAMID: its SubstreamID is always valid (7.3.9)
    want=C_BAD_SUBSTREAMID want_id=0x08 want_rec="SSV=0 SSID=0x5" cd5=none
fi
ev=$(event_after 1)
gsaw=$(guest_event after_probe $want_id)
ok=0; [ "$ev" = "$want" ] && [ "${gsaw#* }" = "$want_rec" ] && { [ "$ssidsize" = 0 ] || [ "$cd5" = 5 ]; } && ok=1
check "PASID 5 DMA: $want" $ok \
    "QEMU: CD ${cd5:-?}, then ${ev:-no event}; guest read $want ${gsaw:-: none}"

# Each probe is one refused page-aligned 4 KiB write: one transaction, so
# one event record each, not one per 4-byte piece of it.
nev=$(sed -n '/^pasid_testdev_run/,$p' "$trace" | trace_events | wc -l)
ok=0; [ "$nev" = 2 ] && ok=1
check "one event per refused 4 KiB write" $ok "QEMU recorded $nev for the two probes"

dcdmax=$(select_cd $DISK_SID 0xffffffff | trace_field S1CDMax)
ok=0; [ "$dcdmax" = 0 ] && ok=1
check "virtio-blk STE: single CD" $ok "S1CDMax=$dcdmax (no PASID capability)"

if [ $ats = 1 ]; then
    # Linux enabled ATS on both (the host bridge said it supports ATS):
    # the ATS Enable bit, STE.EATS full ATS, and the CMD_ATC_INV it sends
    # for the whole ATC when it enables ATS on a device
    for f in "disk $DISK_BDF $DISK_SID" "test_device $TESTDEV_BDF $TESTDEV_SID"; do
        read -r name bdf sid <<< "$f"
        ctl=$(markers ats_cap | sed -n "s/^$bdf control=\(0x[0-9a-f]*\)/\1/p")
        eats=$(grep -m1 "^smmuv3_decode_ste sid=$sid .* ats=1" "$trace")
        inv=$(grep -c "^smmuv3_cmdq_atc_inv sid=$sid " "$trace")
        ok=0; [ -n "$ctl" ] && [ $((ctl & 0x8000)) != 0 ] && [ -n "$eats" ] && [ "$inv" -ge 1 ] && ok=1
        check "ATS enabled on the $name" $ok \
            "ATS Control ${ctl:-not seen}; STE.EATS full: $([ -n "$eats" ] && echo yes || echo no); CMD_ATC_INV for StreamID $sid: ${inv}x"
    done
fi

guest_finish
