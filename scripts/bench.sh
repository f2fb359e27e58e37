#!/bin/bash
# 'make bench': measure the SMMUv3 translation path of the series against
# the baseline, in one run, and write bench/results/ (results.md, .csv,
# .png; README's benchmark section is updated from it).
#
#   1. qtest (bench/smmubench.py): no guest CPU; pcie-pasid-testdev's
#      doorbell runs REPEAT transfers inside QEMU.  Patched (build/obj) and
#      the baseline (build/obj-bench-base: 10.2.2 + BENCH_BASE_PATCHES,
#      SMMU code identical to 10.2.2): wall time, callgrind instruction
#      counts, cache hit rates, RSS.
#   2. guest (bench/guestbench.py + tests/guest/bench.sh): Debian's arm64
#      kernel, cold O_DIRECT reads of a 256 MiB virtio-blk disk and
#      boot-to-shell time; patched and unpatched 10.2.2 (build/obj-base).
#   3. bench/report.py: tables, verdicts on the targets, plot.
#
# BENCH_QUICK=1: a small subset, written to build/bench-quick/ (make check
# runs it to prove the benchmark works; it judges nothing).
# The full run first waits (up to BENCH_WAIT_MAX seconds, 90: with the
# ~480 s of measuring, make bench stays within 10 minutes) for the
# 1-minute load average to drop below BENCH_MAX_LOAD (0.7): the machine
# may be shared, and the report records the load either way.
# BENCH_PARTS=qtest,guest selects parts.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/bench-config.sh"

quick=${BENCH_QUICK:-0}
parts=${BENCH_PARTS:-qtest,guest}
start=$(date +%s)

PATCHED=$OBJ_DIR/qemu-system-aarch64
BASE=$BENCH_BASE_OBJ/qemu-system-aarch64
UNPATCHED=$BENCH_UNPATCHED_OBJ/qemu-system-aarch64
for b in "$PATCHED" "$BASE" "$UNPATCHED"; do
    [ -x "$b" ] || die "$b not built: run 'make bench' (it builds what it needs)"
done
[ -f "$GUEST_DIR/guest.env" ] || die "no guest prepared: run 'make guest'"
. "$GUEST_DIR/guest.env"
command -v valgrind >/dev/null || die "valgrind missing: run 'make deps'"
"$BENCH_PYTHON" -c 'import matplotlib' 2>/dev/null ||
    die "python3-matplotlib missing: run 'make deps'"

mkdir -p "$BENCH_OUT"
rm -rf "$BENCH_WORK"
mkdir -p "$BENCH_WORK"

# The full run is what gets recorded: give it a quiet machine.
load1() { cut -d' ' -f1 /proc/loadavg; }
if [ "$quick" != 1 ] && [ "${BENCH_WAIT_MAX:-90}" -gt 0 ]; then
    waited=0 max_load=${BENCH_MAX_LOAD:-0.7}
    while awk -v l="$(load1)" -v m="$max_load" 'BEGIN { exit !(l >= m) }' &&
            [ $waited -lt "${BENCH_WAIT_MAX:-90}" ]; do
        [ $waited = 0 ] && note "load average $(load1) >= $max_load: waiting (up to ${BENCH_WAIT_MAX:-90} s)"
        sleep 30
        waited=$((waited + 30))
    done
fi
load_start=$(cat /proc/loadavg)
run_start=$(date +%s) run_date=$(date -u '+%Y-%m-%d %H:%M UTC')
waited=$((run_start - start))

# The disks of the guest part: random bytes (nothing compresses or is
# sparse), made once.  A 1 MiB /dev/vda for the init's own checks.
disk=$BENCH_DISK mib=$BENCH_DISK_MIB
if [ "$quick" = 1 ]; then
    disk=$BUILD_DIR/bench-disk-quick.img mib=16
fi
small=$BUILD_DIR/bench-small.img
for d in "$disk:$mib" "$small:1"; do
    f=${d%:*} m=${d##*:}
    if [ ! -f "$f" ] || [ "$(stat -c %s "$f")" != $((m << 20)) ]; then
        head -c "${m}M" /dev/urandom > "$f.tmp" && mv "$f.tmp" "$f"
    fi
done

# sizeof(MemTxAttrs) in the patched binary (patch 0001 must keep it <= 8;
# its QEMU_BUILD_BUG_ON checks that at compile time too).
memtx=$(gdb -batch -nx -ex 'print sizeof(MemTxAttrs)' "$PATCHED" 2>/dev/null |
        sed -n 's/^\$1 = //p' || true)

describe() { git -C "$1" describe --always --tags 2>/dev/null || echo unknown; }
head_desc=$(describe "$WORK_TREE")
dirty=$(git -C "$WORK_TREE" status --porcelain --untracked-files=no | head -n 1)

qargs=(--patched "$PATCHED" --base "$BASE" --out "$BENCH_OUT"
       --work "$BENCH_WORK")
[ "$quick" = 1 ] && qargs+=(--quick)
if [[ ,$parts, == *,qtest,* ]]; then
    "$BENCH_PYTHON" "$TOP/bench/smmubench.py" "${qargs[@]}" ${BENCH_EXTRA:+--extra "$BENCH_EXTRA"}
else
    rm -f "$BENCH_OUT/qtest.json"
fi
if [[ ,$parts, == *,guest,* ]]; then
    gargs=(--patched "$PATCHED" --unpatched "$UNPATCHED"
           --kernel "$GUEST_KERNEL_IMAGE" --initrd "$GUEST_INITRD"
           --disk "$disk" --small "$small" --out "$BENCH_OUT"
           --work "$BENCH_WORK" --runs "${BENCH_GUEST_RUNS:-3}")
    # quick: one boot, SMMU with ssidsize=20 only
    [ "$quick" = 1 ] && gargs+=(--runs 1 --configs 2)
    "$BENCH_PYTHON" "$TOP/bench/guestbench.py" "${gargs[@]}"
else
    rm -f "$BENCH_OUT/guest.json"
fi
load_end=$(cat /proc/loadavg)
took=$(( $(date +%s) - run_start ))

# The facts of this run, for the header of results.md.
"$BENCH_PYTHON" - "$BENCH_OUT/meta.json" <<EOF
import json, sys
lines = [
    "Run: started $run_date, $took s (after $waited s spent building and waiting for the load to drop)$([ "$quick" = 1 ] && echo ', BENCH_QUICK=1 (a subset)'); host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores.",
    "Load average (1, 5, 15 min) at the start: $(echo "$load_start" | cut -d' ' -f1-3); at the end: $(echo "$load_end" | cut -d' ' -f1-3).",
    "patched: build/obj, work tree $head_desc$([ -n "$dirty" ] && echo ' (with uncommitted changes)').",
    "baseline (qtest): build/obj-bench-base = $BASE_TAG + only the patches bench-config.sh names (memory core refused-address fix, RCU backlog reclaim, MemTxAttrs PASID field, pci_dma_rw_pasid(), the test device): its SMMU code is identical to 10.2.2.",
    "unpatched (guest): build/obj-base = $BASE_TAG, plain 10.2.2.",
    "sizeof(MemTxAttrs) with patch 0001: ${memtx:-not checked (no gdb)} bytes (must stay <= 8).",
    "Guest kernel: $GUEST_KERNEL_NAME.",
]
json.dump({"lines": lines}, open(sys.argv[1], "w"), indent=1)
EOF

rargs=(--out "$BENCH_OUT" --meta "$BENCH_OUT/meta.json")
[ "$quick" = 1 ] || rargs+=(--readme "$TOP/README.md")
note "report"
"$BENCH_PYTHON" "$TOP/bench/report.py" "${rargs[@]}"
rm -f "$BENCH_OUT/meta.json"
note "benchmark done in $(( $(date +%s) - start )) s: $BENCH_OUT/results.md"
