# shellcheck shell=bash
# Sourced by scripts/run-checks.sh: QEMU's vmstate-static-checker.py, and a
# booted guest migrating to and from unpatched 10.2.2 (build/obj-base).
note "migration to and from unpatched QEMU 10.2.2"
run_test "migration-compat" bash "$TOP/scripts/migration-compat.sh"
