#!/bin/bash
# 'make demo': the end-to-end PASID test is the headline.  Linux built from
# Debian's source (scripts/build-kernel.sh) hands the PASID test device to
# user space through VFIO and iommufd; tests/guest/vfio-pasid gives two
# PASIDs and the untagged requests three page tables that map the same
# IOVA, and shows where each DMA landed (scripts/guest-vfio.sh).
# When that kernel cannot be built, Debian's stock arm64 kernel boots
# instead, with the SMMUv3's SubstreamIDs on, the test device and a
# virtio-blk disk behind the SMMU (scripts/guest-boot.sh).
#   DEMO_STOCK=1      the stock kernel boot even so (also when GUEST_KERNEL
#                     names your own kernel for it)
#   DEMO_SSIDSIZE=N   its SSIDSIZE (0 = SubstreamIDs off, as 10.2.2)
set -euo pipefail
. "$(dirname "$0")/config.sh"

rc=0
if [ "${DEMO_STOCK:-0}" != 1 ] && [ -z "${GUEST_KERNEL:-}" ]; then
    if bash "$TOP/scripts/build-kernel.sh"; then
        bash "$TOP/scripts/guest-vfio.sh" --demo || rc=$?
        echo "   logs: build/test-logs/guest-vfio-0x100-0xfffff/ (serial.log, trace.log, command)"
        exit $rc
    fi
    echo "== no iommufd guest kernel (see above): Debian's stock kernel instead"
fi
n=${DEMO_SSIDSIZE:-20}
bash "$TOP/scripts/guest-boot.sh" --demo --ssidsize "$n" || rc=$?
echo "   logs: build/test-logs/guest-ssidsize$n/ (serial.log, trace.log, command)"
exit $rc
