#!/bin/bash
# 'make demo-monitor': start the patched qemu-system-aarch64 on the virt
# machine with the SMMUv3, ask the monitor what it sees, and exit.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

need_qemu
SMMU_BASE=0x09050000    # VIRT_SMMU in hw/arm/virt.c
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Bounded: the monitor's 'quit' ends the run; timeout is the backstop.
# One 32-bit read per register: the SMMU's MMIO only takes 4/8-byte accesses.
printf '%s\n' "info qtree" "info mtree -f" "xp /1wx $SMMU_BASE" \
    "xp /1wx $((SMMU_BASE + 4))" "quit" |
    bounded 60 "$QEMU" -M virt,iommu=smmuv3 -cpu max -m 256M \
        -display none -nic none -S -monitor stdio 2>&1 | tr -d '\r' >"$out" ||
    { cat "$out"; die "QEMU did not run to the end of the demo"; }

echo "== $("$QEMU" --version | head -n 1)"
echo "== command: qemu-system-aarch64 -M virt,iommu=smmuv3 -cpu max"
echo
echo "-- info qtree: the SMMU device"
grep -A8 'dev: arm-smmuv3' "$out" | sed 's/^/   /'
echo
echo "-- info mtree -f: the SMMU's registers and the PCIe bus's IOMMU region"
grep -E 'smmuv3|smmu-' "$out" | sort -u | head -n 8 | sed 's/^/   /'
echo
reg() { grep -i "^0*$(printf '%x' "$1"):" "$out" | tail -n 1 | awk '{print $2}'; }
idr0=$(reg $SMMU_BASE)
idr1=$(reg $((SMMU_BASE + 4)))
[ -n "${idr1:-}" ] || die "could not read SMMU_IDR0/IDR1 through the monitor"
echo "-- SMMU_IDR0 = $idr0, SMMU_IDR1 = $idr1 (read with 'xp' from $SMMU_BASE)"
printf '   IDR0.S1P=%d S2P=%d CD2L=%d   IDR1.SSIDSIZE=%d SIDSIZE=%d\n' \
    $(( (idr0 >> 1) & 1 )) $(( idr0 & 1 )) $(( (idr0 >> 19) & 1 )) \
    $(( (idr1 >> 6) & 0x1f )) $(( idr1 & 0x3f ))
