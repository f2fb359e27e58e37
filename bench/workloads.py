"""What the benchmark measures and how its report judges it: the one table
of configurations, workloads, targets and notes that smmubench.py and
guestbench.py (what to run) and report.py (what to show and judge) read.

A record (one measured cell) is named by its section, build,
configuration, op, size and PASIDs: 0 untagged, 1 tagged with PASID 1,
N tagged round robin over PASIDs 1..N.
"""

from collections import namedtuple

KiB, MiB = 1 << 10, 1 << 20
OPS = ("read", "write")
SIZES = (4 * KiB, 64 * KiB, 2 * MiB)
HIT_SIZES = (4 * KiB, 64 * KiB)   # IOTLB hits: at most 256 pages of 4 KB
MISS_PASIDS = 512       # > 256 IOTLB entries, < 8192 configuration entries
CFGMISS_PASIDS = 16384  # > 8192 configuration cache entries

# How much a run does, in full and with BENCH_QUICK=1 (quick): timed runs,
# bytes of a long timed run, of a long run under callgrind, sizes, live
# PASIDs, SubstreamIDs of the hostile part, time of a long cfgi batch and
# its pairs under callgrind.
RUN = {
    "full": dict(runs=9, total=64 * MiB, ir_total=2 * MiB, sizes=SIZES,
                 scaling=(1, 16, 256, 4096, 65536), hostile=1 << 20,
                 cfgi_ns=20e6, cfgi_k=256),
    "quick": dict(runs=2, total=2 * MiB, ir_total=64 * KiB,
                  sizes=HIT_SIZES, scaling=(1, 256), hostile=4096,
                  cfgi_ns=1e6, cfgi_k=16),
}

# A qtest configuration: how the SMMU translates the test device's DMA.
# ssidsize None: no IOMMU; granule None: bypass STE; cdtable None: one CD,
# else a CD table ("2lvl": 64 KB leaves, S1CDMax=20; "linear":
# S1CDMax=15) with CDs for SubstreamIDs 0..pasids (S1DSS=SSID0).
Config = namedtuple("Config", "title ssidsize granule cdtable pasids",
                    defaults=(None, None, None, 0))
CONFIGS = {
    "no-iommu": Config("no IOMMU"),
    "bypass": Config("SMMU, bypass STE", 0),
    "s1-4k": Config("stage 1, one CD, 4 KB granule", 0, 12),
    "s1-64k": Config("stage 1, one CD, 64 KB granule", 0, 16),
    "pasid-2lvl-4k": Config("stage 1, ssidsize=20, 2-level CD table, "
                            "4 KB granule", 20, 12, "2lvl", CFGMISS_PASIDS),
    "pasid-2lvl-64k": Config("stage 1, ssidsize=20, 2-level CD table, "
                             "64 KB granule", 20, 16, "2lvl", MISS_PASIDS),
    "pasid-linear-4k": Config("stage 1, ssidsize=20, linear CD table, "
                              "4 KB granule", 20, 12, "linear",
                              CFGMISS_PASIDS),
}

# The transfers timed and counted on those configurations:
# (section, configuration, PASIDs, ops, sizes, in the quick subset).
WORKLOADS = (
    ("main", "no-iommu", 0, OPS, SIZES, True),
    ("main", "bypass", 0, OPS, SIZES, True),
    ("main", "s1-4k", 0, OPS, SIZES, True),
    ("main", "pasid-2lvl-4k", 0, OPS, SIZES, True),
    ("main", "pasid-2lvl-4k", 1, OPS, SIZES, True),
    ("granule", "s1-64k", 0, OPS, SIZES, False),
    ("granule", "pasid-2lvl-64k", 1, OPS, SIZES, False),
    ("iotlb", "pasid-2lvl-4k", MISS_PASIDS, ("read",), SIZES, True),
    ("iotlb", "pasid-2lvl-64k", MISS_PASIDS, ("read",), SIZES, False),
    *(("cdtable", config, n, ("read",), (4 * KiB,), False)
      for config in ("pasid-2lvl-4k", "pasid-linear-4k")
      for n in (1, CFGMISS_PASIDS)),
)

# The cfgi section: what the configuration cache holds when a pair
# CMD_CFGI_STE(stream A); CMD_SYNC runs.
CFGI_CASES = {
    "empty": "empty",
    "other": "8191 entries of another stream",
    "same": "8191 entries of this stream (first command after they were "
            "cached)",
}

# The guest part: configuration name -> ssidsize (None: no IOMMU), and the
# (build, configuration) pairs it boots, in this order.
GUEST_CONFIGS = {"no-iommu": None, "smmu-ssid0": 0, "smmu-ssid20": 20,
                 "smmu": 0}
GUEST_RUNS = (("patched", "no-iommu"), ("patched", "smmu-ssid0"),
              ("patched", "smmu-ssid20"), ("unpatched", "no-iommu"),
              ("unpatched", "smmu"))

# How the report names a metric of a record.
METRICS = {"ir": "Ir", "ns": "time", "rss_kib": "RSS (KiB)",
           "read_4096_s": "4 KiB blocks", "read_65536_s": "64 KiB blocks"}


def cross(**choices):
    """Every combination of CHOICES, as dicts: cross(op=OPS, size=(4,))"""
    out = [{}]
    for key, values in choices.items():
        out = [dict(d, **{key: v}) for d in out for v in values]
    return out


def qtest(config, pasids=None, section="main", **more):
    """The record fields of a qtest workload of the patched build (PASIDs
    left open when None)."""
    more.update(section=section, build="patched", config=config)
    return more if pasids is None else dict(more, pasids=pasids)


# ---- the targets -----------------------------------------------------------
# A target compares records: NUM / DEN (NUM - DEN with diff), each
# variant of OVER filling in the fields they leave open, for each of
# METRICS.  The worst variant must stay <= most (or >= least).  WHERE:
# fields NUM must have at least.
TARGETS = (
    dict(title="PASID-tagged <= 1.10x untagged stage 1 (same size, IOTLB "
         "hits: 4 KiB and 64 KiB, 4 KB granule)",
         num=qtest("pasid-2lvl-4k", 1), den=qtest("s1-4k"),
         over=cross(op=OPS, size=HIT_SIZES), metrics=("ir", "ns"),
         most=1.10),
    dict(title="patched untagged <= 1.02x baseline (no-iommu, bypass, "
         "s1-4k; all sizes, read and write)",
         num=dict(section="main", build="patched", pasids=0),
         den=dict(section="main", build="baseline", pasids=0),
         over=cross(config=("no-iommu", "bypass", "s1-4k"), op=OPS,
                    size=SIZES), metrics=("ir", "ns"), most=1.02),
    *(dict(title="stage 1 with IOTLB hits, 64 KiB, %s granule: >= 0.8x "
           "the throughput of no IOMMU" % granule,
           num=qtest("no-iommu", size=64 * KiB),
           den=qtest(config, section=section, size=64 * KiB),
           over=cross(op=OPS), metrics=("ns",), least=0.8)
      for granule, config, section in (("4 KB", "s1-4k", "main"),
                                       ("64 KB", "s1-64k", "granule"))),
    dict(title="N live PASIDs <= 1.5x one PASID while the working set fits "
         "the caches (config and IOTLB hits >= 99%)",
         num=qtest("pasid-2lvl-4k", section="scaling"),
         den=qtest("pasid-2lvl-4k", 1, section="scaling"),
         over=cross(pasids=RUN["full"]["scaling"][1:]),
         where=dict(cfg_hit_pct=99, iotlb_hit_pct=99), metrics=("ns",),
         most=1.5),
    dict(title="RSS after every SubstreamID once <= baseline + 64 MiB",
         num=dict(section="hostile", build="patched"),
         den=dict(section="hostile", build="baseline"),
         metrics=("rss_kib",), diff=True, most=64 * 1024),
    dict(title="CMD_CFGI_STE + CMD_SYNC with 8191 configurations of "
         "another stream cached <= 1.10x with an empty cache "
         "(instructions)",
         num=dict(section="cfgi", build="patched", config="other"),
         den=dict(section="cfgi", build="patched", config="empty"),
         metrics=("ir",), most=1.10),
    dict(title="guest: cold 256 MiB read with ssidsize=20 within 1.05x of "
         "ssidsize=0",
         num=dict(section="guest", build="patched", config="smmu-ssid20"),
         den=dict(section="guest", build="patched", config="smmu-ssid0"),
         metrics=("read_4096_s", "read_65536_s"), most=1.05),
)

# ---- the notes -------------------------------------------------------------
# (text, values): each value is compared as a target's (metric, num, den,
# over, diff); its variants give {0}, {1}... in order, or with range=True
# their lowest and highest.  A note whose values are not all there is
# left out.
NOTES = (
    ("**PASID-tagged vs untagged.** The tagged transfer costs {0:,.0f} "
     "more instructions at 4 KiB and {1:,.0f} more at 64 KiB (16 "
     "translations): mostly a fixed cost per DMA call of the device (one "
     "per transfer up to 64 KiB), not per translation.  It is "
     "`pci_dma_rw_pasid()`: the Requester ID (`pci_requester_id()`, checked "
     "QOM casts) that interrupt remapping needs in the attributes, and the "
     "PASID capability check; untagged `pci_dma_rw()` sends "
     "`MEMTXATTRS_UNSPECIFIED`.  The SMMU's own work is the same for both "
     "(pasid-2lvl-4k untagged equals s1-4k).  So the ratio is largest for "
     "the smallest transfers (4 KiB).",
     [dict(metric="ir", num=qtest("pasid-2lvl-4k", 1, op="read"),
           den=qtest("s1-4k", op="read"), over=cross(size=HIT_SIZES),
           diff=True)]),
    ("**64 KiB at the 4 KB granule vs no IOMMU.** Behind any IOMMU the "
     "memory core translates and copies page by page: 16 calls of the "
     "SMMU's translate() per 64 KiB instead of one memcpy.  Even the "
     "bypass STE, which does no table lookup, reaches only {0:.2f}x the "
     "throughput of no IOMMU; stage 1 adds the configuration and IOTLB "
     "lookups.  With the 64 KB granule (one translation per 64 KiB) the "
     "target is met.  Instruction counts are not used for this "
     "comparison: valgrind counts each byte of glibc's `rep movsb` copy "
     "(large memcpy) as an instruction, so one 64 KiB copy looks dearer "
     "than sixteen 4 KiB ones.",
     [dict(metric="ns", num=qtest("no-iommu", op="read", size=64 * KiB),
           den=qtest("bypass", op="read", size=64 * KiB))]),
    ("**Slope with live PASIDs.** Every PASID has its own ASID, so it "
     "needs its own IOTLB entry and configuration cache entry.  QEMU's "
     "IOTLB holds 256 entries (`SMMU_IOTLB_MAX_SIZE`, 10.2.2) and the "
     "configuration cache 8192 (`SMMU_CONFIG_CACHE_MAX`); both are emptied "
     "when full, and a round robin over more entries than fit misses on "
     "every access under any replacement policy.  Up to 256 PASIDs "
     "everything hits (the target holds); from 4096 every transfer walks "
     "the page tables (+{0:,.0f} instructions: three descriptor reads, an "
     "allocation, an insertion); past 8192 (65536 here) every transfer "
     "also decodes STE, L1CD and CD again (+{1:,.0f} more).  Beyond that "
     "the cost per transfer stays flat: it does not grow with the number "
     "of PASIDs, and neither does memory (peak RSS column).",
     [dict(metric="ir", num=qtest("pasid-2lvl-4k", hi, section="scaling"),
           den=qtest("pasid-2lvl-4k", lo, section="scaling"), diff=True)
      for hi, lo in ((4096, 256), (65536, 4096))]),
    ("**Noise.** Rows no-iommu run the same code on both builds (the "
     "baseline has the test device's patches too), so their time ratios "
     "show this run's noise: {0:.2f} to {1:.2f}.  Time ratios inside that "
     "band say nothing; the instruction counts are exact and decide the "
     "comparisons of the same code path (patched vs baseline, tagged vs "
     "untagged).",
     [dict(metric="ns", num=qtest("no-iommu"),
           den=dict(qtest("no-iommu"), build="baseline"),
           over=cross(op=OPS, size=SIZES), range=True)]),
    ("**Guest boot-to-shell** is measured on the host from starting QEMU "
     "to reading the init's first marker on the serial console (PID 1 has "
     "just mounted /proc, /sys and /dev): QEMU's setup, the kernel's boot "
     "and the initramfs.  The kernel's own timestamp on that line is shown "
     "too.", []),
    ("**Method.** Time per transfer = (T(R) - T(R/4)) / (3R/4) of two "
     "doorbells with R and R/4 repetitions, so what one doorbell costs "
     "once (the qtest round trip, register writes, the checksum of the "
     "last read) cancels; median of the runs, interleaved across builds "
     "and configurations.  Ir: the same difference in instructions "
     "counted by callgrind inside the test device's doorbell and bottom "
     "half only.  Hit rates: a separate run with the cache trace events "
     "on.  *write* transfers include the device generating its data "
     "pattern word by word, which dominates them.", []),
)
