# shellcheck shell=bash
# Settings of the benchmark (sourced after config.sh): 'make bench',
# scripts/bench*.sh, bench/*.py.

# The qtest baseline: QEMU 10.2.2 ($BASE_TAG) plus only the patches whose
# file names (without NNNN-) match these globs, in series order: the memory
# core's one-step failure of refused addresses, the RCU backlog reclaim,
# MemTxAttrs' PASID, pci_dma_rw_pasid() and the test device with all its
# changes - the same device, SMMU code identical to 10.2.2 (not hw/arm).
BENCH_BASE_PATCHES=(system-physmem-* util-rcu-* memattrs-*
                    pci-Add-pci_dma_rw_pasid-* hw-misc-*)
BENCH_BASE_SRC=${BENCH_BASE_SRC:-$BUILD_DIR/qemu-bench-base}
BENCH_BASE_OBJ=${BENCH_BASE_OBJ:-$BUILD_DIR/obj-bench-base}

# The truly unpatched 10.2.2 (scripts/build.sh unpatched), for the guest
# boots, which need no test device.
BENCH_UNPATCHED_OBJ=${BENCH_UNPATCHED_OBJ:-$BUILD_DIR/obj-base}

# Where a run writes: the full run into the repository's bench/results/,
# BENCH_QUICK=1 (make check) into the build tree, so a quick run never
# replaces the recorded results.
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    BENCH_OUT=${BENCH_OUT:-$BUILD_DIR/bench-quick}
else
    BENCH_OUT=${BENCH_OUT:-$TOP/bench/results}
fi
BENCH_WORK=${BENCH_WORK:-$BUILD_DIR/bench-work}   # logs, callgrind files

# The guest-level disk: 256 MiB of random bytes, made once.
BENCH_DISK=${BENCH_DISK:-$BUILD_DIR/bench-disk.img}
BENCH_DISK_MIB=256

# The system Python: matplotlib is Debian's python3-matplotlib.
BENCH_PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
