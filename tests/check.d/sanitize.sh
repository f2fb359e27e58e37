# shellcheck shell=bash
# Sourced by scripts/run-checks.sh: the SMMU qtests (fuzz seeds included)
# on the ASan + UBSan build of aarch64 (build/obj-san); any sanitizer
# report fails.
note "SMMU qtests on the sanitizer build (ASan + UBSan)"
run_test "sanitize-smmuv3-test" bash "$TOP/scripts/check-sanitize.sh"
