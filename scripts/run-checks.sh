#!/bin/bash
# Run the tests against the built tree, one verdict line each, and close
# with "N passed, N failed[, N skipped]"; exit non-zero on failure.
#   run-checks.sh          'make check': the qtests (ours with their slow
#                          cases, GLib's -m slow), checkpatch, and the
#                          guest, migration, sanitizer and benchmark tests
#   run-checks.sh --quick  'make check-quick': the qtests' quick cases and
#                          checkpatch, nothing else
set -uo pipefail
. "$(dirname "$0")/config.sh"
S=$TOP/scripts

quick=0
[ "${1:-}" != --quick ] || { quick=1; shift; }
[ $# = 0 ] || die "usage: $0 [--quick]"
QTEST_TIMEOUT=${QTEST_TIMEOUT:-900}
LOG_DIR=$BUILD_DIR/test-logs
fresh_dir "$LOG_DIR"
log_of() { echo "$LOG_DIR/${1//\//_}.log"; }

# run_test NAME COMMAND...: one test, its output in $(log_of NAME).
# Exit status 77 means skipped (the log's last line says why).
run_test() {
    local name=$1 log start=$SECONDS rc
    log=$(log_of "$1")
    shift
    "$@" >"$log" 2>&1 </dev/null
    rc=$?
    case $rc in
    0) result PASS "$name" "$((SECONDS - start)) s";;
    77) result SKIP "$name" "$(tail -n 1 "$log")";;
    *) result FAIL "$name" "$((SECONDS - start)) s (exit $rc)"; show_tail "$log" 25;;
    esac
}

# qtest ARCH BINARY [FILTER]: a QEMU qtest binary in TAP mode.  FILTER
# is an extended regex: only the test paths matching it run; with a
# leading '!', the paths matching it are left out (and listed).
qtest() {
    local exe=$OBJ_DIR/tests/qtest/$2 filter=${3:-} paths=() rc why slow=() not=()
    # GLib's -m slow runs the quick cases and the slow ones.  QEMU's own
    # qtests keep their default (quick) mode, as QEMU's 'make check' does:
    # qom-test's slow mode alone takes 15 minutes on 2 cores.
    if [ $quick = 0 ] && printf '%s\n' "${SLOW_QTESTS[@]}" | grep -qx -- "$2"; then
        slow=(-m slow)
    fi
    [ -x "$exe" ] || { echo "$exe not built"; return 1; }
    export QTEST_QEMU_BINARY=$OBJ_DIR/qemu-system-$1
    export MALLOC_PERTURB_=$(( (RANDOM % 255) + 1 ))
    if [ -n "$filter" ]; then
        [ "${filter:0:1}" != '!' ] || { not=(-v); filter=${filter:1}; }
        # (-l lists the slow cases too only with -m slow)
        mapfile -t paths < <("$exe" -l "${slow[@]}" | grep '^/')
        [ ${#not[@]} = 0 ] ||
            echo "# left out: $(printf '%s\n' "${paths[@]}" | grep -E -- "$filter" | tr '\n' ' ')"
        mapfile -t paths < <(printf '%s\n' "${paths[@]}" | grep "${not[@]}" -E -- "$filter")
        [ ${#paths[@]} -gt 0 ] || { echo "no test path matches '$3'"; return 1; }
    fi
    bounded "$QTEST_TIMEOUT" "$exe" --tap -k "${slow[@]}" "${paths[@]/#/-p=}"
    rc=$?
    why=$(tap_problem "$(log_of "qtest-$1-$2")" $rc "$QTEST_TIMEOUT")
    [ -z "$why" ] || { echo "$why"; return 1; }
}

note "qtests$([ $quick = 1 ] && echo ', quick cases only')"
for q in "${QTESTS[@]}"; do
    IFS=: read -r arch bin filter <<<"$q"
    run_test "qtest-$arch-$bin" qtest "$arch" "$bin" "$filter"
done

# checkpatch: errors fail; warnings are listed below the verdict.
note "checkpatch over patches/"
warn=0
while read -r p; do
    name=checkpatch-${p%.patch}
    run_test "$name" perl "$WORK_TREE/scripts/checkpatch.pl" --no-tree "$PATCH_DIR/$p"
    grep -A3 '^WARNING' "$(log_of "$name")" | sed 's/^/    warning| /'
    warn=$((warn + $(grep -c '^WARNING' "$(log_of "$name")")))
done < <(series_patches)
[ $warn = 0 ] || echo "checkpatch: $warn warning(s) listed above"

# 'make check' only.  The build that 'make check' does not make first
# (the VFIO test's kernel) runs as a test: its failure fails the tests
# that need it, not the others.
if [ $quick = 0 ]; then
    # It only proves that the benchmark runs: timings are never asserted.
    note "benchmark, quick subset (proves it runs; judges nothing)"
    # (the patched build only: 'make bench' builds and measures the
    # baseline, whose patches are chosen and applied here)
    run_test bench-quick env BENCH_QUICK=1 bash "$S/bench.sh"
    run_test bench-base-patches bash "$S/build.sh" bench-base-patches
    # SSIDSIZE 20: a 2-level CD table with 64 KB leaves; 8: linear with
    # 256 CDs; 0: a single CD per STE (10.2.2).
    note "guest boots (Debian arm64 kernel, TCG)"
    for n in 20 8 0; do
        run_test "guest-boot-ssidsize$n" bash "$S/guest-boot.sh" --ssidsize "$n"
    done
    # ATS: Linux enables it on the test device and on a virtio-blk disk
    # behind a root port, and invalidates their ATCs
    run_test guest-boot-ssidsize20-ats bash "$S/guest-boot.sh" --ats
    # The UEFI + ACPI path servers and libvirt boot through: Debian's
    # AAVMF, Linux finds the SMMU and the PCI mapping in the IORT
    run_test guest-boot-ssidsize20-uefi bash "$S/guest-boot.sh" --uefi
    # PASIDs 0x100 and 0xfffff sit in different leaves of the 2-level CD
    # table, 1 and 2 in the same one; that run also goes with the SMMU's
    # trace points off (the fast path).
    note "iommufd/VFIO PASID attach (Linux from Debian's source, TCG)"
    run_test guest-vfio-kernel bash "$S/build-kernel.sh"
    run_test guest-vfio-pasids-0x100-0xfffff bash "$S/guest-vfio.sh"
    run_test guest-vfio-pasids-1-2 bash "$S/guest-vfio.sh" --pasids 1 2
    run_test guest-vfio-pasids-1-2-notrace bash "$S/guest-vfio.sh" --pasids 1 2 --no-trace
    # The same with ATS: every transfer through the device's ATC, Linux's
    # CMD_ATC_INV checked at the detach, the move and the unmap
    run_test guest-vfio-pasids-0x100-0xfffff-ats bash "$S/guest-vfio.sh" --ats
    # Linux binds only when the SMMU's OAS covers the CPU's PARange (44
    # bits: cortex-a72; 48: neoverse-n1), and not with 52-bit VAs and LPA2
    # on 4 KB pages (-cpu max, whose 52-bit PARange is also above the
    # OAS): the refusals are Linux's, checked as such.
    note "SVA: processes bound to PASIDs (same kernel, TCG)"
    run_test guest-sva-cortex-a72-oas44 bash "$S/guest-sva.sh" --cpu cortex-a72
    run_test guest-sva-neoverse-n1-oas48 bash "$S/guest-sva.sh" --cpu neoverse-n1 --oas 48
    run_test guest-sva-neoverse-n1-oas44-refused bash "$S/guest-sva.sh" --cpu neoverse-n1 --refused
    run_test guest-sva-max-oas48-refused bash "$S/guest-sva.sh" --cpu max --oas 48 --refused
    # The stage-2 SMMU with FWB that iommufd's vIOMMU needs; the program
    # is the VMM and its VM at once (tests/guest/vsmmu.c).
    note "nested vSMMU through iommufd (same kernel, TCG)"
    run_test guest-vsmmu bash "$S/guest-vsmmu.sh"
    # Other people's tests: Linux's VFIO selftests, in every IOMMU mode,
    # with DMA by our libvfio driver for the test device; 2-level CD table
    # (ssidsize 20) and none (0)
    note "Linux's VFIO selftests (same kernel, TCG)"
    for n in 20 0; do
        run_test "guest-vfio-selftests-ssidsize$n" bash "$S/guest-vfio-selftests.sh" --ssidsize "$n"
    done
    note "migration to and from unpatched QEMU 10.2.2"
    run_test migration-compat bash "$S/migration-compat.sh"
    note "SMMU qtests on the sanitizer build (ASan + UBSan)"
    run_test sanitize-smmuv3-test bash "$S/check-sanitize.sh"
fi

echo
summary
