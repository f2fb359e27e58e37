# shellcheck shell=bash
# Sourced by scripts/run-checks.sh: Debian's arm64 kernel on the SMMUv3 at
# three SSIDSIZEs (scripts/guest-boot.sh): 20, a 2-level CD table with
# 64 KB leaves; 8, linear with 256 CDs; 0, a single CD per STE (10.2.2).
note "guest boots (Debian arm64 kernel, TCG)"
for n in 20 8 0; do
    run_test "guest-boot-ssidsize$n" bash "$TOP/scripts/guest-boot.sh" --ssidsize "$n"
done
