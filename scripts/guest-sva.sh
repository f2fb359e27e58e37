#!/bin/bash
# Shared virtual addressing end to end: Linux with ARM_SMMU_V3_SVA
# (build-kernel.sh) binds processes to the PASID test device through
# tests/guest/sva/pasid_sva.ko, and tests/guest/sva-test has the device
# DMA to their own memory with their PASIDs (what it checks: its header).
# Its verdicts are cross-checked with QEMU's trace: the CD Linux wrote for
# each PASID, the TLB invalidation an munmap caused before the refused
# DMA, the CFGI_CD when a bound process exited and the C_BAD_CD its PASID
# raised afterwards.
#   guest-sva.sh [--cpu CPU] [--oas BITS] [--refused]
# --refused: Linux is expected to refuse SVA with this CPU and OAS (its
# arm_smmu_sva_supported(): the SMMU's OAS below the CPU's PARange, or
# 52-bit VAs with LPA2 on 4 KB pages); checked: it says so, nothing binds.
# Logs in $BUILD_DIR/test-logs/guest-sva-CPU-oasBITS/; GUEST_TIMEOUT (300 s).
set -uo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

cpu=cortex-a72 oas=44 refused=0
usage="usage: $0 [--cpu CPU] [--oas BITS] [--refused]"
while [ $# -gt 0 ]; do
    case "$1" in
    --cpu) [ $# -ge 2 ] || die "$usage"; cpu=$2; shift 2;;
    --oas) [ $# -ge 2 ] || die "$usage"; oas=$2; shift 2;;
    --refused) refused=1; shift;;
    *) die "$usage";;
    esac
done
# CD.IPS Linux writes: the CPU's ID_AA64MMFR0_EL1.PARange
case $cpu in
cortex-a57|cortex-a72) parange=4;;    # 44 bits
neoverse-*) parange=5;;               # 48 bits
max) parange=6;;                      # 52 bits
*) die "--cpu $cpu: its PARange is not known here";;
esac
guest_env "$KERNEL_DIR/guest.env" kernel
TRACE_EVENTS=(smmuv3_select_cd smmuv3_decode_cd smmuv3_decode_cd_tt
              smmu_ptw_level smmuv3_record_event smmuv3_cmdq_cfgi_cd
              smmuv3_cmdq_tlbi_nh_asid smmuv3_range_inval pasid_testdev_run)
# (max: with the cheap pointer authentication, as guest_boot's default)
qemu_cpu=$cpu
[ "$cpu" != max ] || qemu_cpu=max,pauth-impdef=on
guest_boot "$BUILD_DIR/test-logs/guest-sva-$cpu-oas$oas" 20 "pasidtest=sva" \
    -cpu "$qemu_cpu" -global "arm-smmuv3.oas=$oas" -M gic-version=3 \
    -device "pcie-pasid-testdev,addr=$TESTDEV_ADDR"

echo "== checks: SVA with -cpu $cpu (PARange $parange) and oas=$oas"
res=$(markers sva | grep -a '^result ' | head -n 1)
# The SMMU driver's features (its probe message): bit 17 is SVA
features=$(markers dmesg | sed -n 's/.*oas [0-9]*-bit (features \(0x[0-9a-f]*\)).*/\1/p' | head -n 1)
sva_feature=$(( (${features:-0} >> 17) & 1 ))
if [ $refused = 1 ]; then
    why=$(markers sva_dmesg | grep -a 'bind refused' | head -n 1)
    ok=0
    [[ $res == "result refused "* ]] && [ -z "$(markers sva | grep -a '^bound ')" ] &&
        [ -n "$why" ] && [ -n "$features" ] && [ $sva_feature = 0 ] && ok=1
    check "Linux refuses SVA (its decision)" $ok \
        "${res:-no result line}; ${why##*: }; SMMU features ${features:-?}: no SVA (bit 17)"
    guest_finish
    exit
fi
ok=0; [ -n "$features" ] && [ $sva_feature = 1 ] && ok=1
check "Linux's SMMU driver supports SVA" $ok "SMMU features ${features:-?} (bit 17: SVA)"

verdicts "guest: " --strict < <(markers sva | sed -n 's/^check //p')
ok=0; [ "$res" = "result pass" ] && ok=1
check "sva-test verdict" $ok "${res:-no result line}"

# bound NAME FIELD: "pasid" or "pgd" of process a or b, as sva-test printed
bound() { markers sva | grep -a "^bound $1 " | head -n 1 | trace_field "$2"; }
# line_numbers REGEX: the trace's lines matching REGEX, by number
line_numbers() { grep -n -E "$1" "$trace" | cut -d: -f1; }
# trace_lines FROM TO: the trace's lines after FROM, before TO
trace_lines() { sed -n "$(($1 + 1)),$(($2 - 1))p" "$trace"; }
# run_lines PASID: the test device's transfers with PASID, by line number
run_lines() { line_numbers "^pasid_testdev_run .* tagged 1 pasid $(($1)) "; }

# The CD of each bond, as QEMU decoded it at the first DMA with its PASID.
# Linux's SVA CD: TTB0 = the process's page-table root, its own ASID,
# IPS = PARange, 4 KB granule, T0SZ = 64 - 48 (the CPUs' VA bits), TTB1
# disabled (EPD1), no TBI, no AFFD.
declare -A asid
for p in a b; do
    pasid=$(bound $p pasid) pgd=$(bound $p pgd)
    # the CD, then the first table its walk read (level 0: T0SZ 16)
    cd=$(awk -v sel="^smmuv3_select_cd sid=$TESTDEV_SID ssid=$pasid " '
        /^smmuv3_select_cd / { s = ($0 ~ sel); next }
        s && /^smmuv3_decode_cd asid=/ { cd = $0 }
        s && /^smmuv3_decode_cd_tt TT\[0\]/ { cd = cd " " $0 }
        s && cd && /^smmu_ptw_level stage=1 / { print cd " " $0; exit }' "$trace")
    asid[$p]=$(echo "$cd" | trace_field asid)
    ttb=$(echo "$cd" | sed -n 's/.*ttb:\(0x[0-9a-f]*\).*/\1/p')
    walked=$(echo "$cd" | trace_field baseaddr)
    want="ips=$parange epd0=0 epd1=1 tbi=0 affd=0 TT[0]:tsz:16 granule_sz:12"
    got=$(echo "$cd" | grep -oE 'ips=[0-9]+|epd0=[01]|epd1=[01]|tbi=[0-9]|affd=[01]|TT\[0\]:tsz:[0-9]+|granule_sz:[0-9]+' | paste -sd' ')
    ok=0
    [ -n "$pgd" ] && [ -n "$ttb" ] && [ $((ttb)) = $((pgd)) ] && [ "$got" = "$want" ] &&
        [ "${asid[$p]:-0}" != 0 ] && [ -n "$walked" ] && [ $((walked)) = $((pgd)) ] && ok=1
    check "CD of process $p's PASID" $ok \
        "PASID $pasid: TTB0 ${ttb:-?} (page-table root ${pgd:-?}, walked from ${walked:-?}), ASID ${asid[$p]:-?}, ${got:-no CD decoded}"
done
ok=0; [ "${asid[a]}" != "${asid[b]}" ] && ok=1
check "each process its own ASID" $ok "a ${asid[a]}, b ${asid[b]}"

# munmap: Linux invalidated the SMMU's TLB for that address (by VA in
# a's ASID, or the whole ASID) between the DMA before and the one after,
# which then faulted with a's SubstreamID.
read -r va pasid_a < <(markers sva | sed -n 's/^munmap va=\(0x[0-9a-f]*\) pasid=\(0x[0-9a-f]*\).*/\1 \2/p' | head -n 1)
mapfile -t runs < <(line_numbers "^pasid_testdev_run .* dst ${va:-none} ")
inv="" ev=""
if [ ${#runs[@]} -ge 2 ]; then
    while read -r l; do
        case $l in
        smmuv3_cmdq_tlbi_nh_asid*) inv=$l;;
        *) # num_pages of the granule TG: 1 4 KB, 2 16 KB, 3 64 KB
           addr=$(echo "$l" | trace_field addr) n=$(echo "$l" | trace_field num_pages)
           tg=$(echo "$l" | trace_field tg)
           [ $((addr)) -le $((va)) ] && [ $((va)) -lt $((addr + (n << (tg * 2 + 10)))) ] && inv=$l;;
        esac
        [ -z "$inv" ] || break
    done < <(trace_lines "${runs[0]}" "${runs[1]}" |
             grep -E "^smmuv3_range_inval .* asid=${asid[a]} |^smmuv3_cmdq_tlbi_nh_asid asid=${asid[a]}$")
    ev=$(sed -n "$((runs[1] + 1)),\$p" "$trace" | grep -m1 '^smmuv3_record_event')
fi
ok=0
[ -n "$inv" ] && [[ $ev == "smmuv3_record_event SMMU_EVT_F_TRANSLATION sid=$TESTDEV_SID ssv=1 ssid=$pasid_a" ]] && ok=1
check "munmap: TLB invalidated, then F_TRANSLATION" $ok \
    "va ${va:-?}: ${inv:-no invalidation for ASID ${asid[a]}}; then ${ev:-no event}"

# b exited while bound: Linux cleared its CD (CMD_CFGI_CD) after b's last
# DMA; a DMA with b's PASID then found no valid CD.
pasid_b=$(bound b pasid)
mapfile -t runs < <(run_lines "$pasid_b")
cfgi="" ev=""
if [ ${#runs[@]} -ge 2 ]; then
    last=$((${#runs[@]} - 1))
    cfgi=$(trace_lines "${runs[last - 1]}" "${runs[last]}" |
           grep -m1 "^smmuv3_cmdq_cfgi_cd sid=$TESTDEV_SID ssid=$pasid_b ")
    ev=$(sed -n "$((runs[last] + 1)),\$p" "$trace" | grep -m1 '^smmuv3_record_event')
fi
ok=0
[ -n "$cfgi" ] && [ "$ev" = "smmuv3_record_event SMMU_EVT_C_BAD_CD sid=$TESTDEV_SID ssv=1 ssid=$pasid_b" ] && ok=1
check "exited process: CD cleared, C_BAD_CD" $ok "PASID ${pasid_b:-?}: ${cfgi:-no CMD_CFGI_CD}; then ${ev:-no event}"
rec=$(guest_event sva_dmesg 0x0a)
ok=0; [ "$rec" = "$(printf 'sid=0x%x SSV=1 SSID=%s' $((TESTDEV_SID)) "$pasid_b")" ] && ok=1
check "guest got the C_BAD_CD record" $ok "${rec:-none in the kernel log}"

# Every event of the run, boot and teardown included: a's five refused
# DMAs (after the munmap, a page never touched (write and read), a kernel
# address, an address never mapped), then the gone PASID's.
a_fault="F_TRANSLATION sid=$TESTDEV_SID ssv=1 ssid=$pasid_a"
want="$a_fault, $a_fault, $a_fault, $a_fault, $a_fault, C_BAD_CD sid=$TESTDEV_SID ssv=1 ssid=$pasid_b"
got=$(sed -n 's/^smmuv3_record_event SMMU_EVT_//p' "$trace" | paste -sd, | sed 's/,/, /g')
ok=0; [ "$got" = "$want" ] && ok=1
check "no other SMMU event" $ok "QEMU recorded: ${got:-none}"

guest_finish
