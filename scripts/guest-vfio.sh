#!/bin/bash
# End-to-end PASID test: Linux in the guest (built by build-kernel.sh,
# with IOMMUFD and VFIO) hands the PASID test device to user space, and
# tests/guest/vfio-pasid attaches three I/O page tables that map the same
# IOVA to three buffers: to PASID a, PASID b and the device's untagged
# requests.  Checks the program's own verdicts (each buffer got exactly
# its own data; after PASID a is detached its DMA fails; PASID b moved to
# a's tables lands in a's buffer; after an unmap untagged DMA fails) and
# cross-checks them with QEMU's trace: which CD each DMA used, where the
# IOVA landed, the invalidations and events - and with the event records
# the guest kernel received.
#
#   guest-vfio.sh [--demo] [--timeout SECONDS] [--pasids A B]
#
# Logs in $BUILD_DIR/test-logs/guest-vfio/.  Run build-kernel.sh first.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

demo=0 timeout_s=${GUEST_TIMEOUT:-300} pasid_a=0x100 pasid_b=0xfffff
while [ $# -gt 0 ]; do
    case "$1" in
    --demo) demo=1; shift;;
    --timeout) timeout_s=$2; shift 2;;
    --pasids) pasid_a=$2 pasid_b=$3; shift 3;;
    *) die "usage: $0 [--demo] [--timeout SECONDS] [--pasids A B]";;
    esac
done

QEMU=$OBJ_DIR/qemu-system-aarch64
[ -x "$QEMU" ] || die "$QEMU not built: run 'make build'"
[ -f "$KERNEL_DIR/guest.env" ] || die "no iommufd guest kernel: run 'make kernel'"
. "$KERNEL_DIR/guest.env"

TESTDEV_ADDR=02.0 TESTDEV_SID=0x10 DISK_ADDR=03.0
SSIDSIZE=20
IOVA=0x40000000                 # tests/guest/vfio-pasid.c

out=$BUILD_DIR/test-logs/guest-vfio
rm -rf "$out"
mkdir -p "$out"
trace=$out/trace.log
# A virtio-blk disk behind the same SMMU, read by the guest's DMA API
# while the test device belongs to user space.
guest_disk_prepare

TRACE_EVENTS=(smmuv3_select_cd smmuv3_get_cd smmuv3_record_event
              smmuv3_cmdq_cfgi_cd smmuv3_translate_success
              pasid_testdev_run pasid_testdev_done pci_dma_pasid_refused)
# GICv3 with its ITS: MSIs are isolated, which iommufd requires of a
# device before user space may own it.
# shellcheck disable=SC2054  # commas belong to QEMU's option syntax
qemu_args=(
    -M virt,iommu=smmuv3,gic-version=3 -cpu max,pauth-impdef=on -smp 2 -m 1G
    -nographic -nic none -no-reboot
    -kernel "$GUEST_KERNEL_IMAGE" -initrd "$GUEST_INITRD"
    -append "console=ttyAMA0 panic=-1 printk.devkmsg=on pasidtest=vfio pasid_a=$pasid_a pasid_b=$pasid_b"
    -global "arm-smmuv3.ssidsize=$SSIDSIZE"
    -device "pcie-pasid-testdev,addr=$TESTDEV_ADDR"
    -drive file="$guest_disk",if=none,format=raw,id=disk0,readonly=on
    -device "virtio-blk-pci,drive=disk0,addr=$DISK_ADDR,disable-legacy=on,iommu_platform=on"
    -d "$(trace_arg "${TRACE_EVENTS[@]}")" -D "$trace"
)

echo "== boot: $GUEST_KERNEL_NAME, ssidsize=$SSIDSIZE, PASIDs $pasid_a and $pasid_b (timeout ${timeout_s}s)"

guest_run "$out" "$timeout_s" $demo "$QEMU" "${qemu_args[@]}"

# --- what the guest reported -------------------------------------------
set +e
echo "== checks: iommufd/VFIO attaches page tables to PASIDs of the test device"
ok=0; grep -aq '^@@ done' "$guest_markers" && [ "$guest_rc" = 0 ] && ok=1
check "guest ran to the end" $ok "$(guest_end "$timeout_s"), kernel $(marker kernel)"

bound=$(markers vfio | grep -a '^bound ' | head -n 1)
ok=0; [ "$(echo "$bound" | sed -n 's/.*max_pasid_log2=\([0-9]*\).*/\1/p')" = $SSIDSIZE ] && ok=1
check "vfio-pci + iommufd own the device" $ok "${bound:-$(markers vfio | grep -a '^error' | head -n 1)}"

guest_sha=$(marker disk_sha256)
ok=0; [ "$guest_sha" = "$guest_disk_sha" ] && ok=1
check "virtio-blk DMA alongside" $ok "guest sha256 ${guest_sha:0:16}… host ${guest_disk_sha:0:16}…"

# vfio-pasid's own checks, one line each: "check PASS|FAIL name detail"
while read -r _ verdict name detail; do
    ok=0; [ "$verdict" = PASS ] && ok=1
    check "guest: $name" $ok "$detail"
done < <(markers vfio | grep -a '^check ')
res=$(markers vfio | grep -a '^result ' | head -n 1)
ok=0; [ "${res%% *}" = "result" ] && [ "$(echo "$res" | cut -d' ' -f2)" = pass ] && ok=1
check "vfio-pasid verdict" $ok "${res:-no result line}"

# --- what QEMU saw --------------------------------------------------------
# The trace from the N-th transfer the device ran with this tag onward,
# up to (not including) the next transfer.
run_trace() {   # run_trace TAGGED PASID N (PASID ignored when untagged)
    local want="tagged 0 "
    [ "$1" = 0 ] || want="tagged 1 pasid $(($2)) "
    awk -v want="$want" -v n="$3" '
        /^pasid_testdev_run/ { if (on) exit
                               if (index($0, want) && ++seen == n) { on = 1; next } }
        on' "$trace"
}
first_field() { sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p" | head -n 1; }

ste=$(grep -m1 "^smmuv3_select_cd sid=$TESTDEV_SID " "$trace")
cdmax=$(echo "$ste" | first_field S1CDMax) fmt=$(echo "$ste" | first_field S1Fmt)
ok=0; [ "$cdmax" = $SSIDSIZE ] && [ "$fmt" = 2 ] && ok=1
check "STE: 2-level CD table, 20 SSID bits" $ok "S1CDMax=${cdmax:-?} S1Fmt=${fmt:-?}"

# The first write with each tag: the CD it used and where IOVA landed.
pa_of() {       # pa_of TAGGED PASID: "CD n -> PA" of its first write
    local t cd pa
    t=$(run_trace "$1" "$2" 1)
    cd=$(echo "$t" | sed -n 's/^smmuv3_get_cd CD \([0-9]*\) .*/\1/p' | head -n 1)
    pa=$(echo "$t" | grep "^smmuv3_translate_success .* iova=$IOVA " | first_field translated)
    echo "CD ${cd:-cached} -> ${pa:-none}"
}
pa_a=$(pa_of 1 "$pasid_a") pa_b=$(pa_of 1 "$pasid_b") pa_u=$(pa_of 0 0)
ok=0
[ "${pa_a##* }" != none ] && [ "${pa_b##* }" != none ] && [ "${pa_u##* }" != none ] &&
    [ "${pa_a##* }" != "${pa_b##* }" ] && [ "${pa_a##* }" != "${pa_u##* }" ] &&
    [ "${pa_b##* }" != "${pa_u##* }" ] && ok=1
check "same IOVA, three pages" $ok \
    "IOVA $IOVA: PASID $pasid_a $pa_a, PASID $pasid_b $pa_b, untagged $pa_u"
ok=0
[ "${pa_a%% ->*}" = "CD $((pasid_a))" ] && [ "${pa_b%% ->*}" = "CD $((pasid_b))" ] &&
    [ "${pa_u%% ->*}" = "CD 0" ] && ok=1
check "each tag used its own CD" $ok "(S1DSS: untagged uses CD 0)"

# Detach: Linux clears CD[a] and invalidates it; the next write with
# PASID a (the device's third with that tag) then finds an invalid CD.
inv=$(grep -c "^smmuv3_cmdq_cfgi_cd sid=$TESTDEV_SID ssid=$(printf 0x%x $((pasid_a))) " "$trace")
after=$(run_trace 1 "$pasid_a" 3)
ev=$(echo "$after" | sed -n 's/^smmuv3_record_event SMMU_EVT_\([A-Z_]*\) .*/\1/p' | head -n 1)
done_line=$(echo "$after" | grep -m1 '^pasid_testdev_done')
ok=0; [ "$inv" -ge 1 ] && [ "$ev" = C_BAD_CD ] && ok=1
check "detached PASID: C_BAD_CD" $ok \
    "CMD_CFGI_CD for SSID $pasid_a seen ${inv}x; its DMA: ${ev:-no event}, ${done_line#pasid_testdev_done }"

# Replacement: PASID b's fifth transfer (its write after the attach that
# moved it to a's tables) must go where PASID a's first write went.
inv_b=$(grep -c "^smmuv3_cmdq_cfgi_cd sid=$TESTDEV_SID ssid=$(printf 0x%x $((pasid_b))) " "$trace")
pa_moved=$(run_trace 1 "$pasid_b" 5 | grep "^smmuv3_translate_success .* iova=$IOVA " |
               first_field translated)
ok=0; [ -n "$pa_moved" ] && [ "$pa_moved" = "${pa_a##* }" ] && ok=1
check "replaced PASID b: a's page" $ok \
    "CMD_CFGI_CD for SSID $pasid_b seen ${inv_b}x; its write -> ${pa_moved:-none} (PASID a's page ${pa_a##* })"

# Unmap: the untagged write after it (the fifth untagged transfer) misses
# in the page tables - the TLB invalidation Linux sent was honoured.
ev=$(run_trace 0 0 5 | sed -n 's/^smmuv3_record_event SMMU_EVT_\([A-Z_]*\) .*/\1/p' | head -n 1)
ok=0; [ "$ev" = F_TRANSLATION ] && ok=1
check "unmapped IOVA: F_TRANSLATION" $ok "untagged write after IOMMU_IOAS_UNMAP: ${ev:-no event}"

# Nothing else faulted during the whole run: boot, attach, replace and
# teardown included.
evs=$(sed -n 's/^smmuv3_record_event SMMU_EVT_\([A-Z_]*\) .*/\1/p' "$trace" | tr '\n' ' ')
ok=0; [ "$evs" = "C_BAD_CD F_TRANSLATION " ] && ok=1
check "no other SMMU event" $ok "QEMU recorded: ${evs:-none}"

# The records Linux dumped, decoded from the raw dword 0 (IHI 0070 7.3:
# type 7:0, SSV 11, SubstreamID 31:12, StreamID 63:32).
guest_record() {    # guest_record TYPE: the first record of that type
    local dw0
    for dw0 in $(markers vfio_dmesg | awk '/event 0x[0-9a-f]+ received:/ { w = 1; next }
            w && match($0, /0x[0-9a-f]+/) { print substr($0, RSTART, RLENGTH); w = 0 }'); do
        if [ $((dw0 & 0xff)) = $(($1)) ]; then
            printf 'type=0x%x sid=0x%x SSV=%d SSID=0x%x' $((dw0 & 0xff)) \
                $((dw0 >> 32)) $(((dw0 >> 11) & 1)) $(((dw0 >> 12) & 0xfffff))
            return
        fi
    done
}
rec=$(guest_record 0x0a)
ok=0; [ "$rec" = "$(printf 'type=0xa sid=0x%x SSV=1 SSID=0x%x' $((TESTDEV_SID)) $((pasid_a)))" ] && ok=1
check "guest got the C_BAD_CD record" $ok "${rec:-none in the kernel log}"
rec=$(guest_record 0x10)
ok=0; [ "$rec" = "$(printf 'type=0x10 sid=0x%x SSV=0 SSID=0x0' $((TESTDEV_SID)))" ] && ok=1
check "guest got the F_TRANSLATION record" $ok "${rec:-none in the kernel log}"

if [ $demo = 1 ]; then
    verdict() {     # verdict CHECK-PREFIX...: OK if the guest passed them all
        local p
        for p in "$@"; do
            markers vfio | grep -aq "^check FAIL $p" && { echo FAILED; return; }
        done
        echo OK
    }
    echo "== per-PASID results: one IOVA ($IOVA), three page tables"
    printf '   %-15s %-10s %-16s %s\n' tag CD "IOVA ->" "what happened"
    printf '   %-15s %-10s %-16s %s\n' "PASID $pasid_a" "${pa_a%% ->*}" "${pa_a##* }" \
        "write+read $(verdict write_a landed_a read_a); detached: refused $(verdict detached_a_), C_BAD_CD"
    printf '   %-15s %-10s %-16s %s\n' "PASID $pasid_b" "${pa_b%% ->*}" "${pa_b##* }" \
        "write+read $(verdict write_b landed_b read_b); moved to PASID $pasid_a's tables: -> ${pa_moved:-?} $(verdict b_replaced)"
    printf '   %-15s %-10s %-16s %s\n' untagged "${pa_u%% ->*}" "${pa_u##* }" \
        "write+read $(verdict write_untagged landed_untagged read_untagged); unmapped: refused $(verdict unmapped_untagged_), F_TRANSLATION"
    echo "   guest: $(markers vfio | grep -a '^result ' | head -n 1)"
fi

if [ $fails != 0 ]; then
    guest_dump "$out"
    exit 1
fi
