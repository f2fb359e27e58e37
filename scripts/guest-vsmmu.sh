#!/bin/bash
# Nested vSMMU end to end: Linux with ARM_SMMU_V3_IOMMUFD (build-kernel.sh)
# gives tests/guest/vsmmu, acting as a VMM, iommufd's nesting uAPI on the
# PASID test device: a nest-parent stage 2, a vIOMMU, a vDEVICE, nested
# HWPTs whose vSTEs point at CD tables the program built at "guest
# physical" addresses (what it checks: its header).  Its verdicts are
# cross-checked with QEMU's trace: the STE Linux wrote (Config nested, the
# VMID it chose, S1ContextPtr the vSTE's), the L1CDs and CDs fetched
# through stage 2, the guest's commands as they reached the SMMU (vSID
# rewritten, VMID forced) and the event records, and with the kernel log
# (the stage-2 fault is the host kernel's, not the program's).
#   guest-vsmmu.sh
# Logs in $BUILD_DIR/test-logs/guest-vsmmu/; GUEST_TIMEOUT (300 s).
set -uo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

[ $# = 0 ] || die "usage: $0"
guest_env "$KERNEL_DIR/guest.env" kernel
WIN_GPA=0x40000000 WIN_SIZE=0x400000 VSID=0x42   # tests/guest/vsmmu.c
TRACE_EVENTS=(smmuv3_decode_ste smmuv3_ctx_desc_ipa smmuv3_get_l1cd
              smmuv3_get_cd smmuv3_record_event smmuv3_cmdq_cfgi_cd
              smmuv3_range_inval pasid_testdev_run)
# Nesting needs both stages (the kernel's FEAT_NESTING: the virt machine's
# SMMU has them) and FWB (or IORT CANWBS) before iommufd hands out a vIOMMU.
guest_boot "$BUILD_DIR/test-logs/guest-vsmmu" 20 "pasidtest=vsmmu" \
    -global arm-smmuv3.fwb=on \
    -M gic-version=3 -device "pcie-pasid-testdev,addr=$TESTDEV_ADDR"

echo "== checks: a VMM's nested vSMMU through iommufd (stage 1 the guest's, stage 2 the host's)"
vmm=$(markers vsmmu | grep -a '^vmm ' | head -n 1)
ok=0; [ -n "$vmm" ] && ok=1
check "vIOMMU, vDEVICE, vEVENTQ allocated" $ok \
    "${vmm:-$(markers vsmmu | grep -a '^error' | head -n 1)}"
verdicts "guest: " --strict < <(markers vsmmu | sed -n 's/^check //p')
res=$(markers vsmmu | grep -a '^result ' | head -n 1)
ok=0; [ "$(echo "$res" | cut -d' ' -f2)" = pass ] && ok=1
check "vsmmu verdict" $ok "${res:-no result line}"

# --- what QEMU saw --------------------------------------------------------
in_window() { [ -n "$1" ] && [ $(($1)) -ge $((WIN_GPA)) ] && [ $(($1)) -lt $((WIN_GPA + WIN_SIZE)) ]; }
# The STEs Linux wrote for the device: nested, one VMID, S1ContextPtr the
# vSTE's (the linear table, then the 2-level one)
stes=$(grep "^smmuv3_decode_ste sid=$TESTDEV_SID config=7 " "$trace")
vmid=$(echo "$stes" | trace_field vmid)
ptrs=$(echo "$stes" | sed -n 's/.* s1ctxptr=\(0x[0-9a-f]*\).*/\1/p' | uniq | paste -sd' ')
want=$(markers vsmmu | sed -n 's/^nested .* vste=\(0x[0-9a-f]*\),.*/\1/p' |
    while read -r w; do printf '0x%x\n' $((w & 0xfffffffffffc0)); done | paste -sd' ')  # bits 51:6
ok=0
[ -n "$vmid" ] && [ "$(echo "$stes" | trace_field vmid | sort -u | wc -l)" = 1 ] &&
    [ -n "$want" ] && [ "$ptrs" = "$want" ] && ok=1
check "STE: Config nested, the host's VMID, the vSTE's S1ContextPtr" $ok \
    "$(echo "$stes" | wc -l) decoded, vmid=${vmid:-?}, S1ContextPtr ${ptrs:-none} (vSTEs: ${want:-none})"

# Every L1CD and CD the SMMU read in the VM's window was read through
# stage 2, with that VMID: each such address has its IPA -> PA line, but
# the one in the piece the program unmapped (that fetch faulted)
gone=$(markers vsmmu | sed -n 's/^unmap gpa=\(0x[0-9a-f]*\) size=\(0x[0-9a-f]*\)/\1 \2/p' | head -n 1)
in_gone() { [ -n "$gone" ] && [ $(($1)) -ge $((${gone% *})) ] && [ $(($1)) -lt $((${gone% *} + ${gone#* })) ]; }
fetches=$(sed -n 's/^smmuv3_ctx_desc_ipa .* IPA \(0x[0-9a-f]*\) is PA \(0x[0-9a-f]*\) (stage 2, vmid=\(-*[0-9]*\)).*/\1 \2 \3/p' "$trace")
bad=0
while read -r ipa pa v; do
    in_window "$ipa" && [ "$v" = "$vmid" ] && [ "$pa" != "$ipa" ] || bad=$((bad + 1))
done <<< "$fetches"
# An L1CD read follows its IPA -> PA line, a CD read precedes it
n=0 direct=0 faulted=0 prev='' pending=''
unmatched() { if in_gone "$1"; then faulted=$((faulted + 1)); else direct=$((direct + 1)); fi; }
while read -r ev _ _ _ f5 f6 _; do
    case $ev in
    smmuv3_ctx_desc_ipa)    # L1CD/CD at IPA <ipa> is ...
        if [ -n "$pending" ]; then [ "$f5" = "$pending" ] || unmatched "$pending"; pending=; fi
        prev=$f5;;
    smmuv3_get_l1cd)        # CD <n>: L1CD at <addr> = ...
        if in_window "$f6"; then n=$((n + 1)); [ "$f6" = "$prev" ] || unmatched "$f6"; fi
        prev=;;
    smmuv3_get_cd)          # CD <n> addr: <addr>
        [ -z "$pending" ] || unmatched "$pending"
        pending=
        if in_window "$f5"; then n=$((n + 1)) pending=$f5; fi
        prev=;;
    esac
done < <(grep -E '^smmuv3_(ctx_desc_ipa|get_l1cd|get_cd) ' "$trace")
[ -z "$pending" ] || unmatched "$pending"
l1=$(grep -c '^smmuv3_get_l1cd' "$trace")
ok=0; [ "$n" -gt 0 ] && [ "$bad" = 0 ] && [ "$direct" = 0 ] && [ "$faulted" = 1 ] && [ "$l1" -gt 0 ] && ok=1
check "L1CDs and CDs fetched through stage 2" $ok \
    "$n L1CD/CD reads in [$WIN_GPA, +$WIN_SIZE) ($l1 L1CD): $direct without stage 2, $faulted faulted (in the unmapped piece); $(echo "$fetches" | grep -c .) IPA -> PA lines, $bad not in the window, with another VMID or PA = IPA"

# The VM's commands as the SMMU got them: the vSID became the StreamID,
# the VM's VMID (VM_VMID, 1445) the host's, which is the one the kernel's
# own stage-2 invalidation (after the unmap) used
cfgi=$(grep -c "^smmuv3_cmdq_cfgi_cd sid=$TESTDEV_SID ssid=0x7 " "$trace")
tlbi=$(grep -m1 "^smmuv3_range_inval .* asid=2 addr=0x10000000 .* stage=1" "$trace")
s2inv=$(grep -m1 "^smmuv3_range_inval .* asid=-1 .* stage=2" "$trace")
ok=0
[ "$cfgi" -ge 1 ] && [ -n "$vmid" ] && [ "$vmid" != 1445 ] && [ "$vmid" -ge 0 ] &&
    [ "$(echo "$tlbi" | trace_field vmid)" = "$vmid" ] &&
    [ "$(echo "$s2inv" | trace_field vmid)" = "$vmid" ] && ok=1
check "passed-through commands: vSID and VMID rewritten" $ok \
    "CMD_CFGI_CD sid=$TESTDEV_SID ssid=0x7: ${cfgi}x (the VM said sid=$VSID); TLBI_NH_VA (the VM said vmid=1445): ${tlbi:-none}; the host's stage-2 invalidation: ${s2inv:-none}"

# The event records, in order: three stage-1/CD faults the VM gets
# through the vEVENTQ, the stage-2 fault on the CD fetch, then the
# C_BAD_STE of the vSTE with S1STALLD
evs=$(grep "^smmuv3_record_event .* sid=$TESTDEV_SID " "$trace" |
    sed 's/^smmuv3_record_event SMMU_EVT_\([A-Z_]*\) .* ssid=\(0x[0-9a-f]*\).*/\1:\2/' | paste -sd' ')
ok=0; [ "$evs" = "F_TRANSLATION:0xf C_BAD_CD:0x3 C_BAD_SUBSTREAMID:0x10 F_TRANSLATION:0x401 C_BAD_STE:0x0" ] && ok=1
check "QEMU recorded the five faults" $ok "${evs:-none}"

# The host kernel logged the stage-2 fault, once (S2 = 1, CLASS = CD, the
# IPA in the piece the program unmapped), and no other event: the VM's
# four went to its vEVENTQ
rec=$(guest_event vsmmu_dmesg 0x10)
how=$(markers vsmmu_dmesg | grep -a -m1 -o 's2 "CD fetch"')
ipa=$(markers vsmmu_dmesg | sed -n 's/.* ssid: 0x401 .* ipa: \(0x[0-9a-f]*\).*/\1/p' | head -n 1)
logged=$(markers vsmmu_dmesg | grep -ao 'event 0x[0-9a-f]* received' | paste -sd' ')
ok=0
[ "$rec" = "$(printf 'sid=0x%x SSV=1 SSID=0x401' $((TESTDEV_SID)))" ] && [ -n "$how" ] &&
    [ -n "$ipa" ] && in_gone "$ipa" && [ "$logged" = "event 0x10 received" ] && ok=1
check "host kernel logged the stage-2 fault, not the VM's" $ok \
    "F_TRANSLATION: ${rec:-none}, ${how:-not a stage-2 CD fetch}, IPA ${ipa:-?} (unmapped: ${gone:-?}); all it logged: ${logged:-nothing}"

guest_finish
