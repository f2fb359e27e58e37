# shellcheck shell=bash
# Sourced by scripts/run-checks.sh: the end-to-end PASID test with Linux
# built from Debian's source (scripts/build-kernel.sh; a test of its own,
# so that a missing source or a failed build fails these tests rather than
# stopping the others): iommufd/VFIO attach page tables to PASIDs of the
# test device (scripts/guest-vfio.sh).  PASIDs 0x100 and 0xfffff sit in
# different leaves of the 2-level CD table, 1 and 2 in the same one; that
# run also goes with the SMMU's trace points off (the fast path).
note "iommufd/VFIO PASID attach (Linux from Debian's source, TCG)"
run_test "guest-vfio-kernel" bash "$TOP/scripts/build-kernel.sh"
run_test "guest-vfio-pasids-0x100-0xfffff" bash "$TOP/scripts/guest-vfio.sh"
run_test "guest-vfio-pasids-1-2" bash "$TOP/scripts/guest-vfio.sh" --pasids 1 2
run_test "guest-vfio-pasids-1-2-notrace" bash "$TOP/scripts/guest-vfio.sh" --pasids 1 2 --no-trace
