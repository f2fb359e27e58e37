#!/bin/bash
# 'make demo': boot Debian's arm64 kernel on the patched QEMU with the
# SMMUv3's SubstreamIDs on (ssidsize=20), the PASID test device and a
# virtio-blk disk behind the SMMU.  The serial console streams to the
# terminal; the checks of guest-boot.sh follow as a summary.
#   DEMO_SSIDSIZE=N   another SSIDSIZE (0 = SubstreamIDs off, as 10.2.2)
set -euo pipefail
. "$(dirname "$0")/config.sh"

n=${DEMO_SSIDSIZE:-20}
rc=0
bash "$TOP/scripts/guest-boot.sh" --demo --ssidsize "$n" || rc=$?
echo "   logs: build/test-logs/guest-ssidsize$n/ (serial.log, trace.log, command)"
exit $rc
