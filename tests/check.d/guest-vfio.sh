# shellcheck shell=bash
# Sourced by scripts/run-checks.sh: the end-to-end PASID test with Linux
# built from Debian's source (scripts/build-kernel.sh): iommufd/VFIO
# attach page tables to PASIDs of the test device (scripts/guest-vfio.sh),
# once with the default PASIDs (0x100, 0xfffff: different leaves of the
# 2-level CD table) and once with two in the same leaf.
note "iommufd/VFIO PASID attach (Linux from Debian's source, TCG)"
run_test "guest-vfio-pasids-0x100-0xfffff" bash "$TOP/scripts/guest-vfio.sh"
run_test "guest-vfio-pasids-1-2" bash "$TOP/scripts/guest-vfio.sh" --pasids 1 2
