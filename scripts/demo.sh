#!/bin/bash
# 'make demo': the end-to-end PASID test (guest-vfio.sh --demo, with the
# kernel of build-kernel.sh); when that kernel cannot be built, Debian's
# stock arm64 kernel boots instead (guest-boot.sh --demo).
#   DEMO_STOCK=1      the stock kernel boot even so (also when GUEST_KERNEL
#                     names your own kernel for it)
#   DEMO_SSIDSIZE=N   its SSIDSIZE (0 = SubstreamIDs off, as 10.2.2)
set -euo pipefail
. "$(dirname "$0")/config.sh"

n=${DEMO_SSIDSIZE:-20}
run=("$TOP/scripts/guest-boot.sh" --demo --ssidsize "$n") logs=guest-ssidsize$n
if [ "${DEMO_STOCK:-0}" != 1 ] && [ -z "${GUEST_KERNEL:-}" ]; then
    if bash "$TOP/scripts/build-kernel.sh"; then
        run=("$TOP/scripts/guest-vfio.sh" --demo) logs=guest-vfio-0x100-0xfffff
    else
        echo "== no iommufd guest kernel (see above): Debian's stock kernel instead"
    fi
fi
rc=0
bash "${run[@]}" || rc=$?
echo "   logs: build/test-logs/$logs/ (serial.log, trace.log, command)"
exit $rc
