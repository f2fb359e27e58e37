# SMMUv3 SubstreamID (PASID) support for QEMU: build, test and run the
# patch series in patches/ on top of Debian's qemu 1:10.2.2+ds-1.
#
#   make demo     set up, build, boot Debian's arm64 kernel on the SMMUv3
#                 with SubstreamIDs and show what its driver did
#   make check    set up, build, run every test ("N passed, N failed")
#   make check-quick  the developer loop on a built tree: the qtests'
#                 quick cases and checkpatch (a few minutes)
#   make guest    download the guest kernel/busybox, build the initramfs
#   make kernel   build the iommufd guest kernel from Debian's linux source
#                 and the in-guest VFIO PASID test (cached)
#   make demo-monitor  show the SMMU through QEMU's monitor, no guest
#   make export   write the work tree's commits to patches/
#   make status   does the work tree match patches/?
#   make check-series  build and test every patch on its own
#   make fuzz SECONDS=N SEED=S  hostile-guest fuzzing for N seconds
#   make check-sanitize  the SMMU qtests on an ASan+UBSan build
#   make check-migration  migration to and from unpatched QEMU 10.2.2,
#                 and QEMU's vmstate-static-checker.py against it
#   make bench    measure the SMMU translation path against 10.2.2 and
#                 write bench/results/ (BENCH_QUICK=1: a small subset)
#   make bench-base  the benchmark's baseline: 10.2.2 + the test device's patches
#   make src      (re)create the work tree from patches/ (FORCE=1 discards
#                 un-exported work)

SHELL := /bin/bash
S := scripts

.PHONY: all help deps fetch src tree build guest kernel sanitize-build unpatched check check-quick check-series check-sanitize check-migration bench bench-base fuzz demo demo-monitor export status clean distclean

all: build

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@bash $(S)/install-deps.sh

fetch: deps
	@bash $(S)/tree.sh fetch

src: deps
	@bash $(S)/tree.sh create $(if $(filter 1,$(FORCE)),--force)

# Create the work tree when missing, follow patches/ when they changed.
tree: deps
	@bash $(S)/tree.sh ensure

build: tree
	@bash $(S)/build.sh

# Debian's arm64 kernel and busybox for the boot tests (cached); the
# initramfs takes the test device's registers from the work tree.
guest: tree
	@bash $(S)/fetch-guest.sh

# Linux from Debian's source with IOMMUFD/VFIO + tests/guest/vfio-pasid
kernel: guest
	@bash $(S)/build-kernel.sh

# aarch64 with ASan + UBSan (build/obj-san), unpatched 10.2.2 (build/obj-base)
sanitize-build: tree
	@bash $(S)/build-sanitize.sh

unpatched: tree
	@bash $(S)/build.sh unpatched

check: build guest sanitize-build unpatched
	@bash $(S)/run-checks.sh

check-quick: build
	@bash $(S)/run-checks.sh --quick

check-sanitize: sanitize-build
	@bash $(S)/check-sanitize.sh

check-migration: build guest unpatched
	@bash $(S)/migration-compat.sh

SECONDS ?= 60
SEED ?= 1
fuzz: build
	@SECONDS_TO_RUN=$(SECONDS) SEED=$(SEED) bash $(S)/fuzz.sh

# Build and test each patch of the series on its own (bisectability).
check-series: build
	@bash $(S)/check-series.sh

# The benchmark (bench/, scripts/bench*.sh); its qtest baseline is 10.2.2
# plus only the patches bench-config.sh names (build/obj-bench-base).
bench-base: tree
	@bash $(S)/build.sh bench-base

# (BENCH_QUICK=1: the patched build alone, no baseline to build)
bench: build guest $(if $(filter 1,$(BENCH_QUICK)),,unpatched bench-base)
	@bash $(S)/bench.sh

demo: build guest
	@bash $(S)/demo.sh

demo-monitor: build
	@bash $(S)/demo-monitor.sh

export:
	@bash $(S)/tree.sh export

status:
	@bash $(S)/tree.sh status

clean:
	rm -rf build/obj build/test-logs

distclean:
	rm -rf build
