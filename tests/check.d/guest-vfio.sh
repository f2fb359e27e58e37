# shellcheck shell=bash
# Sourced by scripts/run-checks.sh: the end-to-end PASID test
# (scripts/guest-vfio.sh) with Linux built from Debian's source - a test of
# its own, so that a failed kernel build fails these tests, not the others.
# PASIDs 0x100 and 0xfffff sit in different leaves of the 2-level CD
# table, 1 and 2 in the same one; that run also goes with the SMMU's trace
# points off (the fast path).
note "iommufd/VFIO PASID attach (Linux from Debian's source, TCG)"
run_test "guest-vfio-kernel" bash "$TOP/scripts/build-kernel.sh"
run_test "guest-vfio-pasids-0x100-0xfffff" bash "$TOP/scripts/guest-vfio.sh"
run_test "guest-vfio-pasids-1-2" bash "$TOP/scripts/guest-vfio.sh" --pasids 1 2
run_test "guest-vfio-pasids-1-2-notrace" bash "$TOP/scripts/guest-vfio.sh" --pasids 1 2 --no-trace
