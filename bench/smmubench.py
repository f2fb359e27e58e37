#!/usr/bin/python3
"""The qtest part of 'make bench': the SMMUv3 translation path in QEMU.

Times and counts (callgrind) the workloads of workloads.WORKLOADS, live
PASIDs (with cache hit rates and RSS), every SubstreamID once (RSS) and
CMD_CFGI_STE + CMD_SYNC, on QEMUs under qtest; the Method note of
workloads.NOTES says how.  Writes the records to --out/qtest.json.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, namedtuple
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qtestlib import (Machine, SMMU, BAR, TD, TESTDEV_SID,  # noqa: E402
                      PCI_MMIO, CMDQ_LOG2SIZE, CMDQ_LOG2SIZE_MAX, cmd_bytes)
from workloads import (CONFIGS, WORKLOADS, CFGI_CASES, RUN,  # noqa: E402
                       KiB, MiB)

ROUND_MAX = 64 * MiB    # see repeat_for()
TRACE_EVENTS = ("smmu_iotlb_lookup_hit", "smmu_iotlb_lookup_miss",
                "smmuv3_config_cache_hit", "smmuv3_config_cache_miss")
# The test device's doorbell (pasid_testdev_write) starts a run, its bottom
# half (pasid_testdev_bh) does the transfers, one access per call.
TESTDEV_WORK = ("pasid_testdev_write", "pasid_testdev_bh")

Build = namedtuple("Build", "name binary pasid")
Workload = namedtuple("Workload", "section config pasids op size")


def log(msg, part=False):
    print(("== qtest: " if part else "   ") + msg, flush=True)


def record(opt, b, w):
    """The record of workload W on build B, made on first use."""
    return opt.records.setdefault((b.name,) + tuple(w),
                                  dict(w._asdict(), build=b.name))


def cells_for(builds, wls):
    """(build, workload) pairs: PASID configurations only on PASID builds."""
    return [(b, w) for w in wls for b in builds
            if b.pasid or not CONFIGS[w.config].ssidsize]


def start(opt, b, cfg, name, sids=(TESTDEV_SID,),
          cmdq_log2size=CMDQ_LOG2SIZE, **kw):
    """A machine of build B (Machine() KW) logging to WORK/NAME.log, its
    SMMU set up for configuration CFG (a workloads.Config): the same STE
    for each StreamID of SIDS."""
    m = Machine(b.binary, os.path.join(opt.work, name + ".log"),
                smmu=cfg.ssidsize, **kw)
    if cfg.ssidsize is None:
        return m
    try:
        m.smmu_enable(cmdq_log2size)
        s1 = SMMU.SMMU_STE_CFG_S1
        if cfg.granule is None:
            ste = (SMMU.SMMU_STE_CFG_BYPASS,)
        elif cfg.cdtable is None:
            ste = (s1, m.one_cd(m.map_data(cfg.granule), cfg.granule))
        else:
            fmt, s1cdmax = ((SMMU.SMMU_S1FMT_LINEAR, 15)
                            if cfg.cdtable == "linear"
                            else (SMMU.SMMU_S1FMT_2LVL_64K, 20))
            ste = (s1, m.cd_table(fmt, s1cdmax, set(range(cfg.pasids + 1)),
                                  m.map_data(cfg.granule), cfg.granule),
                   fmt, s1cdmax, SMMU.SMMU_S1DSS_SSID0)
        for sid in sids:
            m.ste(*ste, sid=sid)
    except BaseException:
        m.close()
        raise
    return m


@contextmanager
def machines(what):
    """A dict for machines, all closed at the end; if all went well, first
    checking that their SMMUs recorded no event (during WHAT)."""
    ms = {}
    try:
        yield ms
        if any(m.events() for m in ms.values()):
            raise RuntimeError("SMMU events in " + what)
    finally:
        for m in ms.values():
            m.close()


def run(m, w, repeat):
    """One doorbell of REPEAT transfers of W: its wall time in ns."""
    return m.doorbell(w.op, w.size, repeat, tagged=w.pasids > 0, pasid=1,
                      pasid_cnt=w.pasids if w.pasids > 1 else 0)


def repeat_for(w, total):
    """REPEAT of the long run: TOTAL bytes, at least 8 transfers, a
    multiple of 4 (the short run is a quarter).  Round robin over PASIDs:
    the short run covers every PASID a whole number of times, when that
    is at most ROUND_MAX bytes (so 16384 PASIDs really overflow the
    configuration cache); larger transfers miss on every page after a few
    PASIDs anyway."""
    r = max(8, total // w.size)
    if w.pasids > 1 and w.pasids * w.size <= ROUND_MAX:
        step = 4 * w.pasids
        r = max(step, r // step * step)
    return r // 4 * 4


def per_transfer(measure, r):
    """(M(R) - M(R/4)) / (3R/4) of a measure M of R transfers."""
    lo = measure(r // 4)
    return (measure(r) - lo) / (r - r // 4)


def timing(t, repeat=None, size=None):
    """The record fields of the per-transfer (or per-pair) times T."""
    med = statistics.median(t)
    out = dict(runs=len(t), ns=round(med, 1), ns_min=round(min(t), 1),
               ns_max=round(max(t), 1))
    if size:
        out.update(repeat=repeat, mib_s=round(size / MiB / (med * 1e-9), 1))
    return out


def parallel(opt, fn, jobs):
    """{key: FN(*args)} of JOBS {key: args}, opt.jobs at a time."""
    with ThreadPoolExecutor(max_workers=opt.jobs) as ex:
        futs = {key: ex.submit(fn, *args) for key, args in jobs.items()}
        return {key: f.result() for key, f in futs.items()}


# ---- wall time -------------------------------------------------------------

def run_wall(opt, builds):
    """One machine per (build, configuration), the runs interleaved."""
    cells = cells_for(builds, opt.wls)
    log("wall time, %d cells x %d runs" % (len(cells), opt.runs), part=True)
    with machines("the timed runs") as ms:
        for b, c in dict.fromkeys((b, w.config) for b, w in cells):
            ms[(b, c)] = start(opt, b, CONFIGS[c], b.name + "-" + c)
        for b, w in cells:              # warm up: caches filled, pages touched
            run(ms[(b, w.config)], w, repeat_for(w, opt.total) // 4)
        times = {cell: [] for cell in cells}
        for _ in range(opt.runs):
            for b, w in cells:
                m = ms[(b, w.config)]
                times[(b, w)].append(per_transfer(lambda n: run(m, w, n),
                                                  repeat_for(w, opt.total)))
    for (b, w), t in times.items():
        record(opt, b, w).update(timing(t, repeat_for(w, opt.total), w.size))


# ---- callgrind -------------------------------------------------------------

@contextmanager
def callgrind(opt, name, collect=TESTDEV_WORK):
    """(output file, valgrind command) of a QEMU under callgrind: it
    collects inside COLLECT only, and dumps (OUTFILE.1, .2...) before each
    read of a test device register (Machine.testdev_reads counts them);
    in a fresh directory WORK/cg-NAME-*/, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="cg-%s-" % name, dir=opt.work,
                                     ignore_cleanup_errors=True) as outdir:
        out = os.path.join(outdir, "callgrind.out")
        yield out, (["valgrind", "--tool=callgrind", "--collect-atstart=no"] +
                    ["--toggle-collect=" + c for c in collect] +
                    ["--dump-before=pasid_testdev_read",
                     "--callgrind-out-file=" + out])


def dump_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("no total in " + path)


def ir_of(m, out, fn):
    """FN(), and the instructions of the dumps before the test device reads
    it made (which hold whatever ran since the read before them)."""
    first = m.testdev_reads
    fn()
    return sum(dump_ir("%s.%d" % (out, i))
               for i in range(first + 1, m.testdev_reads + 1))


def cells_ir(opt, b, cfg, name, cells):
    """Ir per transfer of each (workload, warm-up, R) of CELLS, in one QEMU
    of build B under callgrind, set up as configuration CFG: a warm-up
    doorbell, then doorbells of R/4 and R."""
    with callgrind(opt, name) as (out, wrapper), \
            start(opt, b, cfg, "cg-" + name, wrapper=wrapper) as m:
        result = []
        for w, warm, r in cells:
            run(m, w, warm)
            result.append(round(per_transfer(
                lambda n: ir_of(m, out, lambda: run(m, w, n)), r)))
        return result


def run_callgrind(opt, builds):
    """One QEMU per (build, configuration), opt.jobs at a time."""
    groups = {}
    for b, w in cells_for(builds, opt.wls):
        r = repeat_for(w, opt.ir_total)
        groups.setdefault((b, w.config), []).append((w, r // 4, r))
    log("callgrind instruction counts (%d QEMUs, %d at a time)"
        % (len(groups), opt.jobs), part=True)
    irs = parallel(opt, cells_ir, {
        (b, c): (opt, b, CONFIGS[c], "%s-%s" % (b.name, c), cells)
        for (b, c), cells in groups.items()})
    for key, cells in groups.items():
        for (w, _, _), ir in zip(cells, irs[key]):
            record(opt, key[0], w)["ir"] = ir


# ---- scaling: live PASIDs --------------------------------------------------

def hit_rates(opt, b, cfg, w):
    """Cache hit rates of one doorbell of W, from a QEMU with the cache
    trace events on."""
    n = w.pasids
    tlog = os.path.join(opt.work, "scale-%d.trace" % n)
    m = start(opt, b, cfg, "scale-%d-trace" % n,
              extra=["-d", ",".join("trace:" + e for e in TRACE_EVENTS),
                     "-D", tlog])
    try:
        run(m, w, max(4096, n))             # warm up
        off = os.path.getsize(tlog)
        run(m, w, max(4096, n))
        with open(tlog, "rb") as f:
            f.seek(off)
            c = Counter(line.split(b" ", 1)[0].decode(errors="replace")
                        for line in f)
    finally:
        m.close()
        os.unlink(tlog)

    def pct(cache):
        hit, miss = c[cache + "_hit"], c[cache + "_miss"]
        return round(100.0 * hit / (hit + miss), 1) if hit + miss else None
    return dict(cfg_hit_pct=pct("smmuv3_config_cache"),
                iotlb_hit_pct=pct("smmu_iotlb_lookup"))


def run_scaling(opt, builds):
    """4 KiB reads of the patched build round robin over N PASIDs, with
    CDs for 0..N; a fresh QEMU per N, so its peak RSS is this N's."""
    b, ns = builds[0], opt.scaling
    log("live PASIDs %s" % (ns,), part=True)
    cfg = {n: CONFIGS["pasid-2lvl-4k"]._replace(pasids=n) for n in ns}
    w = {n: Workload("scaling", "pasid-2lvl-4k", n, "read", 4 * KiB)
         for n in ns}
    for n in ns:
        r = max(16384, n)
        with start(opt, b, cfg[n], "scale-%d" % n) as m:
            run(m, w[n], r)
            t = [per_transfer(lambda k: run(m, w[n], k), r)
                 for _ in range(opt.runs)]
            st = m.status()
        rec = record(opt, b, w[n])
        rec.update(timing(t, r, w[n].size), rss_kib=st["VmRSS"],
                   peak_rss_kib=st["VmHWM"], **hit_rates(opt, b, cfg[n], w[n]))
        log("%6d PASIDs: %.0f ns/transfer, config cache hits %s%%, IOTLB "
            "hits %s%%, peak RSS %d KiB" % (n, rec["ns"], rec["cfg_hit_pct"],
                                            rec["iotlb_hit_pct"],
                                            rec["peak_rss_kib"]))
    if "ir" in opt.parts:
        cells = {n: [(w[n],) + (min(max(4096, n), 16384),) * 2] for n in ns}
        irs = parallel(opt, cells_ir, {
            n: (opt, b, cfg[n], "scale-%d" % n, cells[n]) for n in ns})
        for n, (ir,) in irs.items():
            record(opt, b, w[n])["ir"] = ir


# ---- hostile: every SubstreamID once ---------------------------------------

def run_hostile(opt, builds):
    """A guest that touches every SubstreamID once (4-byte writes).  PASID
    builds: a 2-level CD table whose 1024 L1 descriptors point at 64 leaves
    (so SubstreamID s has ASID s & 0xffff).  The baseline cannot decode
    SubstreamIDs: the same tables are written, but its STE holds a single
    CD, and it ignores the PASID of the same DMA.  RSS is read once the DMA
    is done."""
    nssid = opt.hostile
    first = min(nssid, 0xfffff)     # PASID_CNT holds at most 2^20 - 1
    log("hostile, %d SubstreamIDs" % nssid, part=True)
    w = Workload("hostile", "all-ssids", nssid, "write", 4)
    for b in builds:
        path = os.path.join(opt.work, "hostile-%s.log" % b.name)
        with Machine(b.binary, path, smmu=20 if b.pasid else 0) as m:
            m.smmu_enable()
            ttb = m.map_data(12)
            fmt, s1 = SMMU.SMMU_S1FMT_2LVL_64K, SMMU.SMMU_STE_CFG_S1
            base = m.cd_table(fmt, 20, range(1 << 20), ttb, 12, leaves=64)
            if b.pasid:
                m.ste(s1, base, fmt, 20, SMMU.SMMU_S1DSS_BYPASS)
            else:
                m.ste(s1, m.one_cd(ttb, 12))
            before = m.status()
            t = m.doorbell("write", 4, first, tagged=True, pasid_cnt=first)
            if nssid > first:
                t += m.doorbell("write", 4, 1, tagged=True, pasid=first)
            after = m.status()
        record(opt, b, w).update(
            ns=round(t / nssid, 1), rss_before_kib=before["VmRSS"],
            rss_kib=after["VmRSS"], peak_rss_kib=after["VmHWM"])
        log("%s: %d SubstreamIDs, RSS %d -> %d KiB (peak %d), %.0f ns each" % (
            b.name, nssid, before["VmRSS"], after["VmRSS"], after["VmHWM"],
            t / nssid))


# ---- CFGI_STE + CMD_SYNC: invalidating one stream --------------------------
#
# Test devices A (00:03.0), whose STE every measured CMD_CFGI_STE names,
# and B (00:04.0).  A "fill" is one doorbell of a device over PASIDs
# 1..CFGI_FILL: that many configurations cached, less than the cache holds.
# The cases and what "same" adds are explained in report.py's cfgi section.

CFGI_B_DEVFN = CFGI_B_SID = 4 << 3
CFGI_B_BAR = PCI_MMIO + 0x10000
CFGI_FILL = 8191
CFGI_KMAX = (1 << 18) - 4        # pairs: 2 * K < 2^19 queue entries
CFGI_SAME_REPS = 3               # fills and D1 differences per run
SYNC_PAIR = cmd_bytes(SMMU.SMMU_CMD_SYNC) * 2


def cfgi_pair(sid):
    return (cmd_bytes(SMMU.SMMU_CMD_CFGI_STE, sid, leaf=1) +
            cmd_bytes(SMMU.SMMU_CMD_SYNC))


def cfgi_machine(opt, b, name, wrapper=()):
    """Both devices, with the same STE: a PASID build's has the 2-level CD
    table, the baseline's (10.2.2's SMMU, no SubstreamIDs) one CD."""
    cfg = (CONFIGS["pasid-2lvl-4k"]._replace(pasids=CFGI_FILL) if b.pasid
           else CONFIGS["s1-4k"])
    return start(opt, b, cfg, name, wrapper=wrapper,
                 testdevs=((CFGI_B_DEVFN, CFGI_B_BAR),),
                 sids=(TESTDEV_SID, CFGI_B_SID),
                 cmdq_log2size=CMDQ_LOG2SIZE_MAX)


def cfgi_fill(m, bar):
    m.doorbell("read", 4, CFGI_FILL, tagged=True, pasid=1,
               pasid_cnt=CFGI_FILL, bar=bar)


def cfgi_batch(m, k):
    """K pairs CFGI_STE(A); CMD_SYNC by one CMDQ_PROD write: its ns."""
    return m.submit(cfgi_pair(TESTDEV_SID) * k)


def cfgi_same_d1(m, submit):
    """After a fill of A: a submit of two CMD_SYNCs (so that neither
    measured submit is the first after the device's doorbell), then
    SUBMIT(1) twice: the pair that drops A's configurations, and the same
    pair once they are gone.  Returns the difference of the two."""
    m.submit(SYNC_PAIR)
    return submit(1) - submit(1)


def cfgi_cases(b):
    return list(CFGI_CASES) if b.pasid else ["empty"]


def cfgi_record(opt, b, case):
    return record(opt, b, Workload("cfgi", case,
                                   0 if case == "empty" else CFGI_FILL,
                                   "cfgi_ste+sync", 0))


def cfgi_k(m, target_ns):
    """K for a long batch of about TARGET_NS (at most CFGI_KMAX), a
    multiple of 4: grown from 64 until a batch takes that long."""
    k = 64
    while True:
        t = cfgi_batch(m, k)
        if t >= target_ns or k >= CFGI_KMAX:
            return k
        k = min(CFGI_KMAX, k * min(8, max(2, int(target_ns / t))) // 4 * 4)


def cfgi_once(m, case, k):
    """One run of a case's wall time: ns per pair."""
    extra = 0
    if case == "same":
        d1 = []
        for _ in range(CFGI_SAME_REPS):
            cfgi_fill(m, BAR)
            d1.append(cfgi_same_d1(m, lambda n: cfgi_batch(m, n)))
        extra = statistics.median(d1)
    return per_transfer(lambda n: cfgi_batch(m, n), k) + extra


def cfgi_wall(opt, builds):
    """One machine per (build, case), interleaved run by run."""
    with machines("the cfgi runs") as ms:
        for b in builds:
            for case in cfgi_cases(b):
                m = ms[(b, case)] = cfgi_machine(
                    opt, b, "cfgi-%s-%s" % (b.name, case))
                if case != "empty":
                    cfgi_fill(m, CFGI_B_BAR if case == "other" else BAR)
        ks = {key: cfgi_k(m, opt.cfgi_ns) for key, m in ms.items()}
        times = {key: [] for key in ms}
        for _ in range(opt.runs):
            for (b, case), m in ms.items():
                times[(b, case)].append(cfgi_once(m, case, ks[(b, case)]))
    for (b, case), t in times.items():
        cfgi_record(opt, b, case).update(k=ks[(b, case)], binary=b.binary,
                                         **timing(t))


def cfgi_callgrind(opt, b):
    """Every case of build B in one QEMU under callgrind, in the order
    empty, other, same; returns {case: Ir per pair}."""
    def counted(n):
        m.testdev_read(BAR, TD.A_ID)        # dump what came before
        return ir_of(m, out, lambda: (cfgi_batch(m, n),
                                      m.testdev_read(BAR, TD.A_ID)))

    def per_pair():
        counted(16)                         # warm up
        return per_transfer(counted, opt.cfgi_k)

    cg = callgrind(opt, "cfgi-" + b.name, collect=("smmu_write_mmio",))
    with cg as (out, wrapper), machines("cfgi " + b.name) as ms:
        m = ms[b] = cfgi_machine(opt, b, "cg-cfgi-" + b.name, wrapper)
        result = {"empty": per_pair()}
        if b.pasid:
            cfgi_fill(m, CFGI_B_BAR)
            result["other"] = per_pair()
            # From the other case to the same case: CFGI_STE(B), then fill
            # A twice.  A build that leaves B's invalidated entries in the
            # cache until they are looked up empties it when it becomes
            # full during the first fill (8191 + 1 entries); the second
            # fill caches what the first lost then, so A ends with its 8191
            # configurations in any build.
            m.submit(cfgi_pair(CFGI_B_SID))
            cfgi_fill(m, BAR)
            cfgi_fill(m, BAR)
            result["same"] = cfgi_same_d1(m, counted) + per_pair()
    return result


def run_cfgi(opt, builds):
    builds = builds + opt.cfgi_builds
    log("CFGI_STE + CMD_SYNC (%s)" % ", ".join(b.name for b in builds),
        part=True)
    cfgi_wall(opt, builds)
    irs = parallel(opt, cfgi_callgrind, {b: (opt, b) for b in builds})
    for b in builds:
        for case, ir in irs[b].items():
            cfgi_record(opt, b, case)["ir"] = round(ir)
        log("%s: %s" % (b.name, ", ".join(
            "%s %.0f ns %s Ir" % (case, rec["ns"], rec.get("ir", "-"))
            for case in cfgi_cases(b)
            for rec in [cfgi_record(opt, b, case)])))


# ---- main ------------------------------------------------------------------

PARTS = (("wall", run_wall), ("scaling", run_scaling),
         ("hostile", run_hostile), ("cfgi", run_cfgi), ("ir", run_callgrind))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patched", required=True,
                    help="qemu-system-aarch64 of the series")
    ap.add_argument("--base", help="qemu-system-aarch64 of the baseline "
                    "(without it, no baseline is measured)")
    ap.add_argument("--extra-build", action="append",
                    default=os.environ.get("BENCH_EXTRA_BUILD", "").split(),
                    help="NAME=BINARY: another build of the series, "
                    "measured in the cfgi part only (e.g. the series "
                    "without a fix); default: $BENCH_EXTRA_BUILD, "
                    "space-separated")
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", default=",".join(p for p, _ in PARTS),
                    help="comma-separated: %(default)s")
    opt = ap.parse_args()
    opt.parts = opt.parts.split(",")
    builds = [Build("patched", opt.patched, True)]
    if opt.base:
        builds.append(Build("baseline", opt.base, False))
    opt.cfgi_builds = []
    for spec in opt.extra_build:
        name, _, binary = spec.partition("=")
        if not name or not os.access(binary, os.X_OK):
            ap.error("--extra-build %s: want NAME=BINARY" % spec)
        opt.cfgi_builds.append(Build(name, binary, True))
    vars(opt).update(RUN["quick" if opt.quick else "full"],
                     jobs=os.cpu_count() or 1, records={})
    opt.wls = [Workload(sec, cfg, n, op, size)
               for sec, cfg, n, ops, sizes, in_quick in WORKLOADS
               if in_quick or not opt.quick
               for op in ops for size in sizes if size in opt.sizes]
    os.makedirs(opt.work, exist_ok=True)
    os.makedirs(opt.out, exist_ok=True)

    t0 = time.time()
    for name, fn in PARTS:
        if name in opt.parts:
            t = time.time()
            fn(opt, builds)
            log("done in %.0f s" % (time.time() - t))
    with open(os.path.join(opt.out, "qtest.json"), "w") as f:
        json.dump(list(opt.records.values()), f, indent=1)
    print("== qtest part done in %.0f s" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
