#!/bin/bash
# End-to-end PASID test: Linux with IOMMUFD and VFIO (build-kernel.sh)
# hands the PASID test device to user space, where tests/guest/vfio-pasid
# maps one IOVA to three buffers for PASID a, PASID b and untagged DMA,
# detaches a, moves b to a's tables and unmaps the untagged IOVA, checking
# the data each time.  Its verdicts are cross-checked with QEMU's trace
# (which CD each DMA used, where the IOVA landed, the invalidations and
# events) and with the event records the guest kernel received.
# --ats: the SMMU and the device with ATS, every transfer through the
# device's ATC; checked: Linux's CMD_ATC_INV for the detached PASID, the
# moved one and the unmapped IOVA, each before the transfer that needed
# it, and the ATC entries that had to survive.
#   guest-vfio.sh [--demo] [--pasids A B] [--no-trace] [--ats]
# Logs in $BUILD_DIR/test-logs/guest-vfio-A-B[-notrace|-ats]/;
# GUEST_TIMEOUT (300 s).
set -uo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

demo=0 pasid_a=0x100 pasid_b=0xfffff traced=1 ats=0
usage="usage: $0 [--demo] [--pasids A B] [--no-trace] [--ats]"
while [ $# -gt 0 ]; do
    case "$1" in
    --pasids) [ $# -ge 3 ] || die "$usage"; pasid_a=$2 pasid_b=$3; shift 3;;
    --no-trace) traced=0; shift;;
    --ats) ats=1; shift;;
    --demo) demo=1; shift;;
    *) die "$usage";;
    esac
done
guest_env "$KERNEL_DIR/guest.env" kernel
SSIDSIZE=20
IOVA=0x40000000                 # tests/guest/vfio-pasid.c

TRACE_EVENTS=(smmuv3_select_cd smmuv3_get_cd smmuv3_record_event
              smmuv3_cmdq_cfgi_cd smmuv3_cmdq_tlbi_nh_asid smmuv3_range_inval
              smmuv3_translate_success
              pasid_testdev_run pasid_testdev_done pci_dma_pasid_refused)
# --no-trace: the guest's verdicts only, with the SMMU's trace points off
# (the fast path of a normal run), the test device's transfers still seen.
[ $traced = 1 ] || TRACE_EVENTS=(pasid_testdev_run pasid_testdev_done)
ats_args=() testdev_ats='' logs=$pasid_a-$pasid_b$([ $traced = 1 ] || echo -notrace)
if [ $ats = 1 ]; then
    ats_args=(-global arm-smmuv3.ats=on) testdev_ats=,ats=on logs=$logs-ats
    TRACE_EVENTS+=(smmuv3_cmdq_atc_inv smmuv3_ats_request)
fi
# A virtio-blk disk behind the same SMMU is read through the guest
# kernel's DMA API while the test device is attached for user space.
# GICv3 with its ITS: MSIs are isolated, which iommufd requires of a
# device before user space may own it.
guest_boot "$BUILD_DIR/test-logs/guest-vfio-$logs" \
    $SSIDSIZE "pasidtest=vfio pasid_a=$pasid_a pasid_b=$pasid_b vfio_ats=$ats" \
    -M gic-version=3 "${ats_args[@]}" \
    -device "pcie-pasid-testdev,addr=$TESTDEV_ADDR$testdev_ats"

# --- what the guest reported -------------------------------------------
echo "== checks: iommufd/VFIO attaches page tables to PASIDs of the test device"
bound=$(markers vfio | grep -a '^bound ' | head -n 1)
ok=0; [ "$(echo "$bound" | trace_field max_pasid_log2)" = $SSIDSIZE ] && ok=1
check "vfio-pci + iommufd own the device" $ok "${bound:-$(markers vfio | grep -a '^error' | head -n 1)}"

# vfio-pasid's own checks, one line each: "check PASS|FAIL name detail"
verdicts "guest: " --strict < <(markers vfio | sed -n 's/^check //p')
res=$(markers vfio | grep -a '^result ' | head -n 1)
ok=0; [ "$(echo "$res" | cut -d' ' -f2)" = pass ] && ok=1
check "vfio-pasid verdict" $ok "${res:-no result line}"

guest_sha=$(markers vfio | sed -n 's/^during \([0-9a-f]\{64\}\) .*/\1/p' | head -n 1)
ok=0; [ "$guest_sha" = "$guest_disk_sha" ] && ok=1
check "virtio-blk DMA while attached" $ok \
    "O_DIRECT read in the guest: sha256 ${guest_sha:0:16}…, host ${guest_disk_sha:0:16}…"

# --- what QEMU saw --------------------------------------------------------
# The device's transfers, numbered per tag (the PASID, decimal, or none).
# Tag a: 1 write, 2 read, 3 refused write.  Tag b: 1 write, 2 read, 3-4
# after the detach, 5-6 after the move to a's tables, 7-8 after the unmap.
# Untagged: 1 write, 2 read, 3-4 after the detach, 5 refused write.
# split_runs: the trace of each in $out/runs/TAG-N (run_trace TAG N), the
# trace since the transfer before it in TAG-N.before (run_trace TAG N .before).
split_runs() {
    mkdir -p "$out/runs"
    awk -v dir="$out/runs" '
        /^pasid_testdev_run/ {
            for (i = 1; i < NF; i++) { if ($i == "tagged") t = $(i + 1); if ($i == "pasid") p = $(i + 1) }
            if (cur) close(cur)
            cur = dir "/" (t ? p : "none") "-" (++n[t ? p : "none"])
            printf "%s", buf > (cur ".before"); close(cur ".before"); printf "" > cur
            buf = ""; next }
        { buf = buf $0 "\n"; if (cur) print > cur }' "$trace"
}
run_trace() { cat "$out/runs/$1-$2${3:-}" 2>/dev/null; }
# cd_pa TAG N: "CD n -> PA" of a transfer: the CD fetched for the test
# device's StreamID (the disk's DMA may interleave) and where IOVA went.
cd_pa() {
    local cd pa
    cd=$(run_trace "$1" "$2" | awk -v sel="^smmuv3_select_cd sid=$TESTDEV_SID " '
        $0 ~ sel { s = 1; next } s && /^smmuv3_get_cd CD/ { print $3; exit }')
    pa=$(run_trace "$1" "$2" | grep "^smmuv3_translate_success .* sid=$TESTDEV_SID iova=$IOVA " |
        trace_field translated)
    echo "CD ${cd:-cached} -> ${pa:-none}"
}
event_of() { run_trace "$1" "$2" | trace_events | head -n 1; }    # event_of TAG N
count_cfgi() {  # count_cfgi SSID: CMD_CFGI_CD lines for it on stdin
    grep -c "^smmuv3_cmdq_cfgi_cd sid=$TESTDEV_SID ssid=$(printf 0x%x $(($1))) "
}

# atc STEP FIELD: the device's ATC counter after the transfer STEP
atc() { markers vfio | grep -a "^atc $1 " | trace_field "$2"; }
# atc_inv_before TAG N SSID: Linux's CMD_ATC_INV for SSID (0xffffffff:
# none) between the transfer before TAG's Nth and that one
atc_inv_before() {
    run_trace "$1" "$2" .before | grep -m1 "^smmuv3_cmdq_atc_inv sid=$TESTDEV_SID ssid=$3 "
}

if [ $ats = 1 ]; then
    split_runs
    a=$((pasid_a)) b=$((pasid_b))
    # Linux enabled ATS (the init read the ATS Control register before the
    # test): the device sends Translation Requests only then
    ctl=$(markers ats_cap | sed -n "s/^$TESTDEV_BDF control=\(0x[0-9a-f]*\)/\1/p")
    nreq=$(grep -c "^smmuv3_ats_request sid=$TESTDEV_SID " "$trace")
    ok=0; [ -n "$ctl" ] && [ $((ctl & 0x8000)) != 0 ] && [ "$nreq" -gt 0 ] && ok=1
    check "Linux enabled ATS on the device" $ok \
        "ATS Control ${ctl:-not seen}; $nreq Translation Requests"

    hexa=$(printf 0x%x $a) hexb=$(printf 0x%x $b)
    # Detach: the ATC_INV for PASID a reached the device before its next
    # write, whose Translation Request found no CD (Completer Abort) ...
    inv=$(atc_inv_before $a 3 "$hexa")
    req=$(run_trace $a 3 | grep -m1 "^smmuv3_ats_request sid=$TESTDEV_SID ssid=$hexa ")
    ok=0
    [ -n "$inv" ] && [[ $req == *" ret=-14 "* ]] &&
        [ $(($(atc a_detached_refused invalidated))) -gt $(($(atc untagged_read invalidated))) ] && ok=1
    check "detached PASID: ATC_INV, then a refused request" $ok \
        "${inv:-no CMD_ATC_INV for SSID $hexa}; then ${req:-no request}"
    # ... and PASID b's entry survived: its next write was an ATC hit
    h0=$(atc a_detached_refused hits) h1=$(atc b_after_detach_write hits)
    m0=$(atc a_detached_refused misses) m1=$(atc b_after_detach_write misses)
    ok=0; [ -n "$h0" ] && [ "$h1" = $((h0 + 1)) ] && [ "$m1" = "$m0" ] && ok=1
    check "PASID b's ATC entry survived a's invalidation" $ok \
        "b's write after the detach: hits $h0 -> $h1, misses $m0 -> $m1"
    # Replacement: ATC_INV for b before its write, which missed
    inv=$(atc_inv_before $b 5 "$hexb")
    m0=$(atc untagged_after_detach_read misses) m1=$(atc b_moved_write misses)
    ok=0; [ -n "$inv" ] && [ -n "$m0" ] && [ "$m1" = $((m0 + 1)) ] && ok=1
    check "PASID b moved: ATC_INV, then a new translation" $ok \
        "${inv:-no CMD_ATC_INV for SSID $hexb}; misses $m0 -> $m1"
    # Unmap: ATC_INV without SSID for the IOVA, then a translation
    # without access for the untagged write
    inv=$(atc_inv_before none 5 0xffffffff)
    req=$(run_trace none 5 | grep -m1 "^smmuv3_ats_request sid=$TESTDEV_SID ssid=0xffffffff ")
    ok=0
    [ -n "$inv" ] && [[ $req == *" ret=0 "*" perm=0" ]] && ok=1
    check "unmapped IOVA: ATC_INV, then no access" $ok \
        "${inv:-no CMD_ATC_INV without SSID}; then ${req:-no request}"
    evs=$(trace_events < "$trace" | tr '\n' ' ')
    ok=0; [ -z "$evs" ] && ok=1
    check "no SMMU event (requests record none)" $ok "QEMU recorded: ${evs:-none}"
    ev_detach="Completer Abort" ev_unmap="no access"
elif [ $traced = 1 ]; then
    split_runs
    a=$((pasid_a)) b=$((pasid_b))
    ste=$(select_cd "$TESTDEV_SID")
    cdmax=$(echo "$ste" | trace_field S1CDMax) fmt=$(echo "$ste" | trace_field S1Fmt)
    ok=0; [ "$cdmax" = $SSIDSIZE ] && [ "$fmt" = 2 ] && ok=1
    check "STE: 2-level CD table, 20 SSID bits" $ok "S1CDMax=${cdmax:-?} S1Fmt=${fmt:-?}"

    # The first write with each tag: the CD it used and where IOVA landed.
    pa_a=$(cd_pa $a 1) pa_b=$(cd_pa $b 1) pa_u=$(cd_pa none 1)
    # three pages, none of them "none"
    pages=$(printf '%s\n' "${pa_a##* }" "${pa_b##* }" "${pa_u##* }" | grep -vx none | sort -u | wc -l)
    ok=0; [ "$pages" = 3 ] && ok=1
    check "same IOVA, three pages" $ok \
        "IOVA $IOVA: PASID $pasid_a $pa_a, PASID $pasid_b $pa_b, untagged $pa_u"
    ok=0
    [ "${pa_a%% ->*}" = "CD $((pasid_a))" ] && [ "${pa_b%% ->*}" = "CD $((pasid_b))" ] &&
        [ "${pa_u%% ->*}" = "CD 0" ] && ok=1
    check "each tag used its own CD" $ok "(S1DSS: untagged uses CD 0)"

    # Detach: Linux clears CD[a] and invalidates it before PASID a's next
    # write, which then finds an invalid CD.
    inv=$(run_trace $a 3 .before | count_cfgi "$pasid_a")
    ev_detach=$(event_of $a 3)
    done_line=$(run_trace $a 3 | grep -m1 '^pasid_testdev_done')
    ok=0; [ "$inv" -ge 1 ] && [ "$ev_detach" = C_BAD_CD ] && ok=1
    check "detached PASID: C_BAD_CD" $ok \
        "CMD_CFGI_CD for SSID $pasid_a after the detach: ${inv}x; then its write: ${ev_detach:-no event}, ${done_line#pasid_testdev_done }"

    # Replacement: CD[b] rewritten and invalidated, then PASID b's write
    # goes where PASID a's first write went.
    inv=$(run_trace $b 5 .before | count_cfgi "$pasid_b")
    pa_moved=$(cd_pa $b 5)
    ok=0; [ "$inv" -ge 1 ] && [ "${pa_moved##* }" = "${pa_a##* }" ] && ok=1
    check "PASID b moved to a's tables" $ok \
        "CMD_CFGI_CD for SSID $pasid_b at the attach: ${inv}x; then its write: $pa_moved (PASID a's page ${pa_a##* })"

    # Unmap: Linux invalidates the IOVA (by address or the whole ASID),
    # and the next untagged write misses in the page tables.
    tlbi=$(run_trace none 5 .before | grep -E "^smmuv3_range_inval .* addr=$IOVA |^smmuv3_cmdq_tlbi_nh_asid" | head -n 1)
    ev_unmap=$(event_of none 5)
    ok=0; [ -n "$tlbi" ] && [ "$ev_unmap" = F_TRANSLATION ] && ok=1
    check "unmapped IOVA: F_TRANSLATION" $ok \
        "after the unmap: ${tlbi:-no TLB invalidation}; then the untagged write: ${ev_unmap:-no event}"

    # Nothing else faulted during the whole run: boot, attach, replace,
    # the disk's DMA and teardown included.
    evs=$(trace_events < "$trace" | tr '\n' ' ')
    ok=0; [ "$evs" = "C_BAD_CD F_TRANSLATION " ] && ok=1
    check "no other SMMU event" $ok "QEMU recorded: ${evs:-none}"
else
    ev_detach="(not traced)" ev_unmap="(not traced)"
    # 3 with tag a, 8 with tag b, 5 untagged (above)
    n=$(grep -c '^pasid_testdev_run' "$trace")
    ok=0; [ "$n" = 16 ] && ok=1
    check "the device ran 16 transfers" $ok "$n seen, with the SMMU's trace points off"
fi

# The event records Linux received for the two refused DMAs.
[ $ats = 0 ] || { guest_finish; exit; }
rec=$(guest_event vfio_dmesg 0x0a)
ok=0; [ "$rec" = "$(printf 'sid=0x%x SSV=1 SSID=0x%x' $((TESTDEV_SID)) $((pasid_a)))" ] && ok=1
check "guest got the C_BAD_CD record" $ok "${rec:-none in the kernel log}"
rec=$(guest_event vfio_dmesg 0x10)
ok=0; [ "$rec" = "$(printf 'sid=0x%x SSV=0 SSID=0x0' $((TESTDEV_SID)))" ] && ok=1
check "guest got the F_TRANSLATION record" $ok "${rec:-none in the kernel log}"

if [ $demo = 1 ]; then
    echo "== per-PASID results: one IOVA ($IOVA), three page tables (CD -> page)"
    printf '   %-14s %s\n' "PASID $pasid_a" "$pa_a; detached: refused, $ev_detach" \
        "PASID $pasid_b" "$pa_b; moved to PASID $pasid_a's tables: $pa_moved" \
        untagged "$pa_u; unmapped: refused, $ev_unmap" guest "$res"
fi

guest_finish
