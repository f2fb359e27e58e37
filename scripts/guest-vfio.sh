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
#   guest-vfio.sh [--demo] [--timeout SECONDS] [--pasids A B] [--no-trace]
#
# Logs in $BUILD_DIR/test-logs/guest-vfio-A-B/.  Run build-kernel.sh first.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

demo=0 timeout_s=${GUEST_TIMEOUT:-300} pasid_a=0x100 pasid_b=0xfffff traced=1
usage="usage: $0 [--demo] [--timeout SECONDS] [--pasids A B] [--no-trace]"
while [ $# -gt 0 ]; do
    case "$1" in
    --demo) demo=1; shift;;
    --timeout) [ $# -ge 2 ] || die "$usage"; timeout_s=$2; shift 2;;
    --pasids) [ $# -ge 3 ] || die "$usage"; pasid_a=$2 pasid_b=$3; shift 3;;
    --no-trace) traced=0; shift;;
    *) die "$usage";;
    esac
done

QEMU=$OBJ_DIR/qemu-system-aarch64
[ -x "$QEMU" ] || die "$QEMU not built: run 'make build'"
[ -f "$KERNEL_DIR/guest.env" ] || die "no iommufd guest kernel: run 'make kernel'"
. "$KERNEL_DIR/guest.env"

TESTDEV_ADDR=02.0 TESTDEV_SID=0x10 DISK_ADDR=03.0
SSIDSIZE=20
IOVA=0x40000000                 # tests/guest/vfio-pasid.c

guest_out "$BUILD_DIR/test-logs/guest-vfio-$pasid_a-$pasid_b$([ $traced = 1 ] || echo -notrace)"
# A virtio-blk disk behind the same SMMU, read through the guest kernel's
# DMA API while the test device is attached for user space.
guest_disk_prepare "$DISK_ADDR"

TRACE_EVENTS=(smmuv3_select_cd smmuv3_get_cd smmuv3_record_event
              smmuv3_cmdq_cfgi_cd smmuv3_cmdq_tlbi_nh_asid smmuv3_range_inval
              smmuv3_translate_success
              pasid_testdev_run pasid_testdev_done pci_dma_pasid_refused)
# --no-trace: the guest's verdicts only, with the SMMU's trace points off
# (the fast path of a normal run), the test device's transfers still seen.
[ $traced = 1 ] || TRACE_EVENTS=(pasid_testdev_run pasid_testdev_done)
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
    "${guest_disk_args[@]}"
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

# vfio-pasid's own checks, one line each: "check PASS|FAIL name detail"
while read -r _ verdict name detail; do
    ok=0; [ "$verdict" = PASS ] && ok=1
    check "guest: $name" $ok "$detail"
done < <(markers vfio | grep -a '^check ')
res=$(markers vfio | grep -a '^result ' | head -n 1)
ok=0; [ "$(echo "$res" | cut -d' ' -f2)" = pass ] && ok=1
check "vfio-pasid verdict" $ok "${res:-no result line}"

guest_sha=$(markers vfio | sed -n 's/^during \([0-9a-f]\{64\}\) .*/\1/p' | head -n 1)
ok=0; [ "$guest_sha" = "$guest_disk_sha" ] && ok=1
check "virtio-blk DMA while attached" $ok \
    "O_DIRECT read in the guest: sha256 ${guest_sha:0:16}…, host ${guest_disk_sha:0:16}…"

# --- what QEMU saw --------------------------------------------------------
# The device's transfers, numbered per tag.  Tag a: 1 write, 2 read,
# 3 refused write.  Tag b: 1 write, 2 read, 3-4 after the detach, 5-6
# after the move to a's tables, 7-8 after the unmap.  Untagged: 1 write,
# 2 read, 3-4 after the detach, 5 refused write.
tag_of() {      # tag_of TAGGED PASID: how pasid_testdev_run prints it
    if [ "$1" = 0 ]; then echo "tagged 0 "; else echo "tagged 1 pasid $(($2)) "; fi
}
run_trace() {   # run_trace TAGGED PASID N: the trace of that transfer
    awk -v want="$(tag_of "$1" "$2")" -v n="$3" '
        /^pasid_testdev_run/ { if (on) exit
                               if (index($0, want) && ++seen == n) { on = 1; next } }
        on' "$trace"
}
before_run() {  # before_run TAGGED PASID N: the trace since the transfer before
    awk -v want="$(tag_of "$1" "$2")" -v n="$3" '
        /^pasid_testdev_run/ { if (index($0, want) && ++seen == n) { printf "%s", buf; exit }
                               buf = ""; next }
        { buf = buf $0 "\n" }' "$trace"
}
first_field() { sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p" | head -n 1; }
# "CD n -> PA" of a transfer's trace: the CD fetched for the test
# device's StreamID (the disk's DMA may interleave) and where IOVA went.
cd_pa() {
    local t cd pa
    t=$(cat)
    cd=$(echo "$t" | awk -v sel="^smmuv3_select_cd sid=$TESTDEV_SID " '
        $0 ~ sel { s = 1; next } s && /^smmuv3_get_cd CD/ { print $3; exit }')
    pa=$(echo "$t" | grep "^smmuv3_translate_success .* sid=$TESTDEV_SID iova=$IOVA " |
        first_field translated)
    echo "CD ${cd:-cached} -> ${pa:-none}"
}
events() {      # the events recorded in the trace on stdin
    sed -n 's/^smmuv3_record_event SMMU_EVT_\([A-Z_]*\) .*/\1/p'
}
event_of() { events | head -n 1; }
count_cfgi() {  # count_cfgi SSID: CMD_CFGI_CD lines for it on stdin
    grep -c "^smmuv3_cmdq_cfgi_cd sid=$TESTDEV_SID ssid=$(printf 0x%x $(($1))) "
}

if [ $traced = 1 ]; then
    ste=$(grep -m1 "^smmuv3_select_cd sid=$TESTDEV_SID " "$trace")
    cdmax=$(echo "$ste" | first_field S1CDMax) fmt=$(echo "$ste" | first_field S1Fmt)
    ok=0; [ "$cdmax" = $SSIDSIZE ] && [ "$fmt" = 2 ] && ok=1
    check "STE: 2-level CD table, 20 SSID bits" $ok "S1CDMax=${cdmax:-?} S1Fmt=${fmt:-?}"

    # The first write with each tag: the CD it used and where IOVA landed.
    pa_a=$(run_trace 1 "$pasid_a" 1 | cd_pa)
    pa_b=$(run_trace 1 "$pasid_b" 1 | cd_pa)
    pa_u=$(run_trace 0 0 1 | cd_pa)
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

    # Detach: Linux clears CD[a] and invalidates it before PASID a's next
    # write, which then finds an invalid CD.
    inv=$(before_run 1 "$pasid_a" 3 | count_cfgi "$pasid_a")
    ev_detach=$(run_trace 1 "$pasid_a" 3 | event_of)
    done_line=$(run_trace 1 "$pasid_a" 3 | grep -m1 '^pasid_testdev_done')
    ok=0; [ "$inv" -ge 1 ] && [ "$ev_detach" = C_BAD_CD ] && ok=1
    check "detached PASID: C_BAD_CD" $ok \
        "CMD_CFGI_CD for SSID $pasid_a after the detach: ${inv}x; then its write: ${ev_detach:-no event}, ${done_line#pasid_testdev_done }"

    # Replacement: CD[b] rewritten and invalidated, then PASID b's write
    # goes where PASID a's first write went.
    inv=$(before_run 1 "$pasid_b" 5 | count_cfgi "$pasid_b")
    pa_moved=$(run_trace 1 "$pasid_b" 5 | cd_pa)
    ok=0; [ "$inv" -ge 1 ] && [ "${pa_moved##* }" = "${pa_a##* }" ] && ok=1
    check "PASID b moved to a's tables" $ok \
        "CMD_CFGI_CD for SSID $pasid_b at the attach: ${inv}x; then its write: $pa_moved (PASID a's page ${pa_a##* })"

    # Unmap: Linux invalidates the IOVA (by address or the whole ASID),
    # and the next untagged write misses in the page tables.
    tlbi=$(before_run 0 0 5 | grep -E "^smmuv3_range_inval .* addr=$IOVA |^smmuv3_cmdq_tlbi_nh_asid" | head -n 1)
    ev_unmap=$(run_trace 0 0 5 | event_of)
    ok=0; [ -n "$tlbi" ] && [ "$ev_unmap" = F_TRANSLATION ] && ok=1
    check "unmapped IOVA: F_TRANSLATION" $ok \
        "after the unmap: ${tlbi:-no TLB invalidation}; then the untagged write: ${ev_unmap:-no event}"

    # Nothing else faulted during the whole run: boot, attach, replace,
    # the disk's DMA and teardown included.
    evs=$(events < "$trace" | tr '\n' ' ')
    ok=0; [ "$evs" = "C_BAD_CD F_TRANSLATION " ] && ok=1
    check "no other SMMU event" $ok "QEMU recorded: ${evs:-none}"
else
    ev_detach="(not traced)" ev_unmap="(not traced)"
    # 3 with tag a, 8 with tag b, 5 untagged (above)
    n=$(grep -c '^pasid_testdev_run' "$trace")
    ok=0; [ "$n" = 16 ] && ok=1
    check "the device ran 16 transfers" $ok "$n seen, with the SMMU's trace points off"
fi

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
    verdict() {     # verdict CHECK...: OK if the guest passed them all
        local c
        for c in "$@"; do
            markers vfio | grep -aq "^check PASS $c " || { echo FAILED; return; }
        done
        echo OK
    }
    echo "== per-PASID results: one IOVA ($IOVA), three page tables"
    printf '   %-15s %-10s %-12s %s\n' tag CD "IOVA ->" "what happened"
    printf '   %-15s %-10s %-12s %s\n' "PASID $pasid_a" "${pa_a%% ->*}" "${pa_a##* }" \
        "write+read $(verdict a_write a_landed a_read); detached: refused $(verdict a_detached_refused a_detached_untouched), $ev_detach"
    printf '   %-15s %-10s %-12s %s\n' "PASID $pasid_b" "${pa_b%% ->*}" "${pa_b##* }" \
        "write+read $(verdict b_write b_landed b_read); moved to PASID $pasid_a's tables: -> ${pa_moved##* } $(verdict b_moved_write b_moved_landed b_moved_read)"
    printf '   %-15s %-10s %-12s %s\n' untagged "${pa_u%% ->*}" "${pa_u##* }" \
        "write+read $(verdict untagged_write untagged_landed untagged_read); unmapped: refused $(verdict untagged_unmapped_refused untagged_unmapped_untouched), $ev_unmap"
    echo "   guest: $res"
fi

if [ $fails != 0 ]; then
    guest_dump "$out"
    exit 1
fi
