# shellcheck shell=bash
# Sourced by scripts/run-checks.sh: a booted guest migrates from the
# patched QEMU (ssidsize=0) to unpatched 10.2.2 and back (build/obj-base).
note "migration to and from unpatched QEMU 10.2.2"
run_test "migration-compat" bash "$TOP/scripts/migration-compat.sh"
