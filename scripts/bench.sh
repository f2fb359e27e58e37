#!/bin/bash
# 'make bench': measure the SMMUv3 translation path of the series against
# the baseline and write bench/results/ (results.md, .csv, .png and the raw
# qtest.json, guest.json).  README.md (Benchmark) describes the parts:
# bench/smmubench.py (qtest: build/obj vs build/obj-bench-base),
# bench/guestbench.py + tests/guest/bench.sh (guest: build/obj vs plain
# 10.2.2 in build/obj-base), bench/report.py (tables, targets, plot).
#
# BENCH_QUICK=1: a small subset of the patched build alone (no baseline),
# written to build/bench-quick/ (make check runs it to prove the benchmark
# works; it judges nothing).  The full run first waits up to
# BENCH_WAIT_MAX seconds (90) for the 1-minute load average to drop below
# BENCH_MAX_LOAD (0.7).  BENCH_PARTS=qtest,guest selects parts.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/bench-config.sh"
export WORK_TREE    # bench/*.py read the test device's and libqos's SMMU headers there

quick=${BENCH_QUICK:-0}
parts=${BENCH_PARTS:-qtest,guest}
start=$(date +%s)

PATCHED=$OBJ_DIR/qemu-system-aarch64
BASE=$BENCH_BASE_OBJ/qemu-system-aarch64
UNPATCHED=$BENCH_UNPATCHED_OBJ/qemu-system-aarch64
base_arg=(--base "$BASE")
[ "$quick" = 1 ] && BASE='' UNPATCHED='' base_arg=()
for b in "$PATCHED" ${BASE:+"$BASE"} ${UNPATCHED:+"$UNPATCHED"}; do
    [ -x "$b" ] || die "$b not built: run 'make bench' (it builds what it needs)"
done
[ -f "$GUEST_DIR/guest.env" ] || die "no guest prepared: run 'make guest'"
. "$GUEST_DIR/guest.env"
command -v valgrind >/dev/null || die "valgrind missing: run 'make deps'"
"$BENCH_PYTHON" -c 'import matplotlib' 2>/dev/null ||
    die "python3-matplotlib missing: run 'make deps'"
mkdir -p "$BENCH_OUT"
fresh_dir "$BENCH_WORK"

# The full run is what gets recorded: give it a quiet machine.
load1() { cut -d' ' -f1 /proc/loadavg; }
wait_max=${BENCH_WAIT_MAX:-90} max_load=${BENCH_MAX_LOAD:-0.7}
[ "$quick" = 1 ] && wait_max=0
while [ $(( $(date +%s) - start )) -lt "$wait_max" ] &&
        awk -v l="$(load1)" -v m="$max_load" 'BEGIN { exit !(l >= m) }'; do
    note "load average $(load1) >= $max_load: waiting (up to $wait_max s)"
    sleep 30
done
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
run_start=$(date +%s) run_date=$(date -u '+%Y-%m-%d %H:%M UTC')

# The guest part's disks: the benchmark disk and a 1 MiB /dev/vda for the
# init's checks.
disk=$BENCH_DISK mib=$BENCH_DISK_MIB
[ "$quick" = 1 ] && disk=$BUILD_DIR/bench-disk-quick.img mib=16
small=$BUILD_DIR/bench-small.img
random_disk "$disk" "$mib"
random_disk "$small" 1

# selected PART: does BENCH_PARTS run PART?  If not, its old results go.
selected() { [[ ,$parts, == *,$1,* ]] || { rm -f "$BENCH_OUT/$1.json"; return 1; }; }
quick_arg=()
[ "$quick" = 1 ] && quick_arg=(--quick)
if selected qtest; then
    "$BENCH_PYTHON" "$TOP/bench/smmubench.py" "${quick_arg[@]}" \
        --patched "$PATCHED" "${base_arg[@]}" --out "$BENCH_OUT" --work "$BENCH_WORK"
fi
if selected guest; then
    guest_args=(--runs "${BENCH_GUEST_RUNS:-3}")
    # quick: one boot, SMMU with ssidsize=20 only
    [ "$quick" = 1 ] && guest_args=(--runs 1 --configs smmu-ssid20)
    "$BENCH_PYTHON" "$TOP/bench/guestbench.py" "${guest_args[@]}" \
        --patched "$PATCHED" --unpatched "$UNPATCHED" \
        --kernel "$GUEST_KERNEL_IMAGE" --initrd "$GUEST_INITRD" \
        --disk "$disk" --small "$small" --out "$BENCH_OUT" --work "$BENCH_WORK"
fi

# The facts of this run, for the header of results.md.  sizeof(MemTxAttrs)
# in the patched binary: the memattrs patch must keep it <= 8 (its
# QEMU_BUILD_BUG_ON checks that at compile time too).
memtx=$(gdb -batch -nx -ex 'print sizeof(MemTxAttrs)' "$PATCHED" 2>/dev/null |
        sed -n 's/^\$1 = //p' || true)
dirty=$(git -C "$WORK_TREE" status --porcelain --untracked-files=no | head -n 1)
note "report"
"$BENCH_PYTHON" "$TOP/bench/report.py" --out "$BENCH_OUT" --meta /dev/stdin <<EOF
Run: started $run_date, $(( $(date +%s) - run_start )) s (after $((run_start - start)) s spent building and waiting for the load to drop)$([ "$quick" = 1 ] && echo ', BENCH_QUICK=1 (a subset)'); host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores.
Load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg).
patched: build/obj, work tree $(git -C "$WORK_TREE" describe --always --tags 2>/dev/null || echo unknown)$([ -n "$dirty" ] && echo ' (with uncommitted changes)').
baseline (qtest): $([ "$quick" = 1 ] && echo 'none (BENCH_QUICK=1 measures the patched build only); in the full run ')build/obj-bench-base = $BASE_TAG + only the patches bench-config.sh names (memory core refused-address fix, RCU backlog reclaim, MemTxAttrs PASID field, pci_dma_rw_pasid(), the test device): its SMMU code is identical to 10.2.2.
unpatched (guest): $([ "$quick" = 1 ] && echo "none (BENCH_QUICK=1); in the full run ")build/obj-base = $BASE_TAG, plain 10.2.2.
sizeof(MemTxAttrs) with the memattrs patch: ${memtx:-not checked (no gdb)} bytes (must stay <= 8).
Guest kernel: $GUEST_KERNEL_NAME.
EOF
note "benchmark done in $(( $(date +%s) - start )) s: $BENCH_OUT/results.md"
