# shellcheck shell=bash
# Sourced by scripts/run-checks.sh: boot Debian's arm64 kernel with the
# SMMUv3 at three SSIDSIZEs (see scripts/guest-boot.sh for the checks).
#   20: 2-level CD table with 64 KB leaves; 8: linear, 256 CDs;
#   0: SubstreamIDs off, a single CD per STE (10.2.2 behaviour).
note "guest boots (Debian arm64 kernel, TCG)"
for n in 20 8 0; do
    run_test "guest-boot-ssidsize$n" bash "$TOP/scripts/guest-boot.sh" --ssidsize "$n"
done
