#!/usr/bin/python3
"""The qtest part of 'make bench': the SMMUv3 translation path in QEMU.

Every workload is one kind of transfer of pcie-pasid-testdev, run REPEAT
times by a single doorbell write, on a QEMU under qtest (no guest CPU).

  wall time   Each doorbell is timed from its qtest command to the STATUS
              read that sees the run done (the device runs it in the
              background; the bench polls).  The time per transfer is
              (T(R) - T(R/4)) / (3R/4): the difference of a long and a
              short run of the same transfer cancels what a doorbell costs
              once (the protocol round trips, the register writes, the
              checksum the device computes over the last transfer of a
              read).  Median over RUNS; runs of every build and
              configuration are interleaved, so a disturbance hits all of
              them alike.
  Ir          The same difference, counted in instructions by valgrind
              --tool=callgrind, collecting only inside the test device's
              doorbell and its bottom half (which runs the transfers) and
              dumping before each read of its registers: a doorbell's count
              is the sum of the dumps before its STATUS reads.  Noise
              free.
  hit rates   A separate QEMU with the SMMU's cache trace events on: the
              trace lines of the measured doorbell are counted.  Tracing
              slows QEMU down, so the timed runs never have it.
  RSS         VmRSS/VmHWM from /proc/PID/status of the timed QEMU.

The "cfgi" part times and counts the SMMU's own command processing
instead: K pairs "CMD_CFGI_STE(stream A); CMD_SYNC" queued and submitted
by one CMDQ_PROD write, with the configuration cache empty or holding
8191 entries (see run_cfgi()).  Ir is then collected inside the SMMU's
MMIO write handler (smmu_write_mmio) only.

Writes qtest.json (a list of records, merged with the guest part by
report.py) into --out.
"""

import argparse
import json
import os
import shutil
import statistics
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qtestlib import (Machine, STE_CFG_BYPASS, STE_CFG_S1,  # noqa
                      S1FMT_LINEAR, S1FMT_2LVL_64K, S1DSS_SSID0,
                      S1DSS_BYPASS, cd_bytes, BAR, TD_ID, TESTDEV_SID,
                      PCI_MMIO, CMD_CFGI_STE, CMD_SYNC, CMDQ_LOG2SIZE_MAX)

KiB, MiB = 1 << 10, 1 << 20
SIZES = (4 * KiB, 64 * KiB, 2 * MiB)
OPS = ("read", "write")
MISS_PASIDS = 512       # > 256 IOTLB entries, < 8192 configuration entries
CFGMISS_PASIDS = 16384  # > 8192 configuration cache entries
SCALING = (1, 16, 256, 4096, 65536)
ROUND_MAX = 64 * MiB    # see repeat_for()
TRACE_EVENTS = ("smmu_iotlb_lookup_hit", "smmu_iotlb_lookup_miss",
                "smmuv3_config_cache_hit", "smmuv3_config_cache_miss")


def log(msg):
    print("   " + msg, flush=True)


# ---- configurations -------------------------------------------------------
# A configuration sets a machine up; its workloads are what runs on it.
# smmu: False = no IOMMU, else the ssidsize property.  pasid: whether the
# build must support SubstreamIDs (the baseline has 10.2.2's SMMU).

def setup_none(m):
    pass


def setup_bypass(m):
    m.smmu_enable()
    m.ste(STE_CFG_BYPASS)


def setup_s1(granule):
    def setup(m):
        m.smmu_enable()
        ttb = m.map_data(granule)
        cd = m.alloc(64, 64)
        m.q.write(cd, cd_bytes(ttb, granule, 1))
        m.ste(STE_CFG_S1, cd)
    return setup


def setup_pasids(granule, npasids, fmt=S1FMT_2LVL_64K, s1cdmax=20):
    """CD 0 (untagged traffic, S1DSS=SSID0) and PASIDs 1..npasids, each
    with its own ASID, all mapping the data window."""
    def setup(m):
        m.smmu_enable()
        ttb = m.map_data(granule)
        base = m.cd_table(fmt, s1cdmax, set(range(npasids + 1)), ttb, granule)
        m.ste(STE_CFG_S1, base, fmt, s1cdmax, S1DSS_SSID0)
    return setup


class Config:
    def __init__(self, name, desc, smmu, setup, pasid=False):
        self.name, self.desc, self.smmu = name, desc, smmu
        self.setup, self.pasid = setup, pasid


CONFIGS = {c.name: c for c in (
    Config("a", "no IOMMU", False, setup_none),
    Config("b", "SMMU, bypass STE", 0, setup_bypass),
    Config("c", "stage 1, untagged (one CD, 4 KB granule)", 0, setup_s1(12)),
    Config("c64", "stage 1, untagged (one CD, 64 KB granule)", 0,
           setup_s1(16)),
    Config("d", "stage 1, ssidsize=20, 2-level CD table, 4 KB granule", 20,
           setup_pasids(12, CFGMISS_PASIDS), pasid=True),
    Config("d64", "stage 1, ssidsize=20, 2-level CD table, 64 KB granule",
           20, setup_pasids(16, MISS_PASIDS), pasid=True),
    Config("lin", "stage 1, ssidsize=20, linear CD table (S1CDMax=15)", 20,
           setup_pasids(12, CFGMISS_PASIDS, S1FMT_LINEAR, 15), pasid=True),
)}


class Workload:
    """One cell: a transfer kind on a configuration."""

    def __init__(self, section, label, config, op, size, tagged=False,
                 pasids=0):
        self.section, self.label, self.config = section, label, config
        self.op, self.size, self.tagged, self.pasids = op, size, tagged, pasids

    def program(self, m, repeat):
        m.program(self.op, self.size, repeat, tagged=self.tagged, pasid=1,
                  pasid_cnt=self.pasids if self.pasids > 1 else 0)

    def key(self, build):
        return (self.section, build, self.label, self.op, self.size,
                max(self.pasids, 1 if self.tagged else 0))


def workloads(quick):
    """(configuration name, Workload) of the wall-time and Ir cells."""
    sizes = (4 * KiB, 64 * KiB) if quick else SIZES
    out = []
    for op in OPS:
        for size in sizes:
            for lab in ("a", "b", "c"):
                out.append(Workload("main", lab, lab, op, size))
            out.append(Workload("main", "c20", "d", op, size))
            out.append(Workload("main", "d", "d", op, size, tagged=True))
            if quick:
                continue
            out.append(Workload("granule", "c64", "c64", op, size))
            out.append(Workload("granule", "d64", "d64", op, size,
                                tagged=True))
    for size in sizes:
        # IOTLB misses: round robin over 512 PASIDs, each its own ASID.
        out.append(Workload("iotlb", "d-miss", "d", "read", size,
                            tagged=True, pasids=MISS_PASIDS))
        if not quick:
            out.append(Workload("iotlb", "d64-miss", "d64", "read", size,
                                tagged=True, pasids=MISS_PASIDS))
    if not quick:
        for lab, cfg in (("2lvl", "d"), ("linear", "lin")):
            out.append(Workload("cdtable", lab, cfg, "read", 4 * KiB,
                                tagged=True))
            out.append(Workload("cdtable", lab + "-cfgmiss", cfg, "read",
                                4 * KiB, tagged=True, pasids=CFGMISS_PASIDS))
    return out


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


# ---- builds ----------------------------------------------------------------

class Build:
    def __init__(self, name, binary, pasid):
        self.name, self.binary, self.pasid = name, binary, pasid


def cells_for(builds, wls):
    """(build, workload) pairs: PASID configurations only on PASID builds."""
    return [(b, w) for w in wls for b in builds
            if b.pasid or not CONFIGS[w.config].pasid]


def start_machines(builds, wls, work, prefix_for=None):
    """One machine per (build, configuration) used by WLS."""
    machines = {}
    for b, w in cells_for(builds, wls):
        key = (b.name, w.config)
        if key in machines:
            continue
        cfg = CONFIGS[w.config]
        prefix = prefix_for(b, cfg) if prefix_for else ()
        m = Machine(b.binary, os.path.join(work, "%s-%s.log" % key),
                    smmu=cfg.smmu, prefix=prefix)
        cfg.setup(m)
        machines[key] = m
    return machines


# ---- wall time ---------------------------------------------------------------

def run_wall(builds, wls, work, runs, total, records):
    machines = start_machines(builds, wls, work)
    try:
        cells = cells_for(builds, wls)
        times = [[] for _ in cells]
        for b, w in cells:              # warm up: caches filled, pages touched
            m = machines[(b.name, w.config)]
            w.program(m, repeat_for(w, total) // 4)
            m.doorbell()
        for run in range(runs):
            for i, (b, w) in enumerate(cells):
                m = machines[(b.name, w.config)]
                r = repeat_for(w, total)
                w.program(m, r // 4)
                t_lo = m.doorbell()
                w.program(m, r)
                t_hi = m.doorbell()
                times[i].append((t_hi - t_lo) / (r - r // 4))
        for i, (b, w) in enumerate(cells):
            t = times[i]
            rec = records.setdefault(w.key(b.name), new_record(w, b))
            med = statistics.median(t)
            rec.update(repeat=repeat_for(w, total), runs=len(t),
                       ns=round(med, 1), ns_min=round(min(t), 1),
                       ns_max=round(max(t), 1),
                       mib_s=round(w.size / MiB / (med * 1e-9), 1))
        for (bname, cname), m in machines.items():
            if CONFIGS[cname].smmu is not False and m.events():
                raise RuntimeError("SMMU events on %s/%s" % (bname, cname))
    finally:
        for m in machines.values():
            m.close()


def new_record(w, b):
    return {"section": w.section, "build": b.name, "config": w.label,
            "desc": CONFIGS[w.config].desc, "op": w.op, "size": w.size,
            "pasids": max(w.pasids, 1 if w.tagged else 0)}


# ---- callgrind ---------------------------------------------------------------

# The test device's doorbell (pasid_testdev_write) starts a run, its bottom
# half (pasid_testdev_bh) does the transfers, one access per call.
TESTDEV_WORK = ("pasid_testdev_write", "pasid_testdev_bh")


def callgrind_prefix(outfile, collect=TESTDEV_WORK):
    if isinstance(collect, str):
        collect = (collect,)
    return (["valgrind", "--tool=callgrind", "--collect-atstart=no"] +
            ["--toggle-collect=" + c for c in collect] +
            ["--dump-before=pasid_testdev_read",
             "--callgrind-out-file=" + outfile])


class DumpCounter:
    """Callgrind writes OUT.N before the N-th read of a test device register:
    the machine setup reads its ID once, each doorbell() reads STATUS until
    the run is done (m.last_reads times), and the run's work falls in the
    dumps before those reads."""

    def __init__(self, outfile):
        self.outfile, self.n = outfile, 1

    def after_doorbell(self, reads):
        paths = ["%s.%d" % (self.outfile, self.n + i)
                 for i in range(1, reads + 1)]
        self.n += reads
        return paths


def counted_doorbells(m, dumps, w, warm, r):
    """A warm-up doorbell of WARM transfers, then R/4 and R: returns the
    callgrind dumps holding the last two."""
    paths = []
    for n in (warm, r // 4, r):
        w.program(m, n)
        m.doorbell()
        paths.append(dumps.after_doorbell(m.last_reads))
    return paths[1], paths[2]


def dump_ir(paths):
    """Instructions in a callgrind dump, or the sum over a list of them"""
    if not isinstance(paths, str):
        return sum(dump_ir(p) for p in paths)
    with open(paths) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("no total in " + paths)


def callgrind_machine(b, cname, work, wls, ir_total, records):
    """All workloads of one (build, configuration) in one QEMU under
    callgrind; returns {workload key: Ir per transfer}."""
    out = os.path.join(work, "cg-%s-%s" % (b.name, cname), "callgrind.out")
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    os.makedirs(os.path.dirname(out))
    cfg = CONFIGS[cname]
    m = Machine(b.binary, os.path.join(work, "cg-%s-%s.log" % (b.name, cname)),
                smmu=cfg.smmu, prefix=callgrind_prefix(out))
    dumps = DumpCounter(out)
    pending = []
    try:
        cfg.setup(m)
        for w in wls:
            r = repeat_for(w, ir_total)
            lo, hi = counted_doorbells(m, dumps, w, r // 4, r)
            pending.append((w, lo, hi, r))
    finally:
        m.close()
    result = {}
    for w, lo, hi, r in pending:
        result[w.key(b.name)] = round((dump_ir(hi) - dump_ir(lo)) /
                                      (r - r // 4))
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    return result


def run_callgrind(builds, wls, work, ir_total, records, jobs):
    groups = {}
    for b, w in cells_for(builds, wls):
        groups.setdefault((b, w.config), []).append(w)
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = [ex.submit(callgrind_machine, b, c, work, ws, ir_total, records)
                for (b, c), ws in groups.items()]
        for (b, c), f in zip(groups, futs):
            for key, ir in f.result().items():
                for w in groups[(b, c)]:
                    if w.key(b.name) == key:
                        records.setdefault(key, new_record(w, b))["ir"] = ir


# ---- scaling: live PASIDs ------------------------------------------------------

def scaling_setup(n):
    return setup_pasids(12, n)


def trace_counts(path, offset):
    counts = dict.fromkeys(TRACE_EVENTS, 0)
    with open(path, "rb") as f:
        f.seek(offset)
        for line in f:
            name = line.split(b" ", 1)[0].decode(errors="replace")
            if name in counts:
                counts[name] += 1
    return counts


def pct(hit, miss):
    return round(100.0 * hit / (hit + miss), 1) if hit + miss else None


def run_scaling(b, work, runs, ns_list, records, cg_jobs, do_ir):
    for n in ns_list:
        w = Workload("scaling", "pasids", "d", "read", 4 * KiB, tagged=True,
                     pasids=n)
        rec = records.setdefault(w.key(b.name), new_record(w, b))
        rec["desc"] = "stage 1, 4 KiB reads round robin over N PASIDs"
        r = max(16384, n)
        # timed, fresh QEMU: its peak RSS is this N's
        m = Machine(b.binary, os.path.join(work, "scale-%d.log" % n), smmu=20)
        try:
            scaling_setup(n)(m)
            w.program(m, r)
            m.doorbell()
            t = []
            for _ in range(runs):
                w.program(m, r // 4)
                t_lo = m.doorbell()
                w.program(m, r)
                t_hi = m.doorbell()
                t.append((t_hi - t_lo) / (r - r // 4))
            st = m.q.status()
            med = statistics.median(t)
            rec.update(repeat=r, runs=runs, ns=round(med, 1),
                       ns_min=round(min(t), 1), ns_max=round(max(t), 1),
                       mib_s=round(w.size / MiB / (med * 1e-9), 1),
                       rss_kib=st["VmRSS"], peak_rss_kib=st["VmHWM"])
        finally:
            m.close()
        # counting run, tracing on
        tlog = os.path.join(work, "scale-%d.trace" % n)
        m = Machine(b.binary, os.path.join(work, "scale-%d-trace.log" % n),
                    smmu=20, extra=["-d", ",".join("trace:" + e for e in
                                                   TRACE_EVENTS), "-D", tlog])
        try:
            scaling_setup(n)(m)
            rc = max(4096, n)
            w.program(m, rc)
            m.doorbell()
            off = os.path.getsize(tlog)
            m.doorbell()
            c = trace_counts(tlog, off)
        finally:
            m.close()
            os.unlink(tlog)
        rec.update(cfg_hit_pct=pct(c["smmuv3_config_cache_hit"],
                                   c["smmuv3_config_cache_miss"]),
                   iotlb_hit_pct=pct(c["smmu_iotlb_lookup_hit"],
                                     c["smmu_iotlb_lookup_miss"]))
        log("%6d PASIDs: %.0f ns/transfer, config cache hits %s%%, IOTLB "
            "hits %s%%, peak RSS %d KiB" % (n, rec["ns"], rec["cfg_hit_pct"],
                                            rec["iotlb_hit_pct"],
                                            rec["peak_rss_kib"]))
    if not do_ir:
        return

    def one(n):
        out = os.path.join(work, "cg-scale-%d" % n, "callgrind.out")
        shutil.rmtree(os.path.dirname(out), ignore_errors=True)
        os.makedirs(os.path.dirname(out))
        m = Machine(b.binary, os.path.join(work, "cg-scale-%d.log" % n),
                    smmu=20, prefix=callgrind_prefix(out))
        dumps = DumpCounter(out)
        w = Workload("scaling", "pasids", "d", "read", 4 * KiB, tagged=True,
                     pasids=n)
        r = min(max(4096, n), 16384)
        try:
            scaling_setup(n)(m)
            lo, hi = counted_doorbells(m, dumps, w, r, r)
        finally:
            m.close()
        ir = round((dump_ir(hi) - dump_ir(lo)) / (r - r // 4))
        shutil.rmtree(os.path.dirname(out), ignore_errors=True)
        return w.key(b.name), ir

    with ThreadPoolExecutor(max_workers=cg_jobs) as ex:
        for key, ir in ex.map(one, ns_list):
            records[key]["ir"] = ir


# ---- hostile: every SubstreamID once ----------------------------------------------

def run_hostile(builds, work, records, nssid):
    """A guest that touches NSSID distinct SubstreamIDs once each (4-byte
    writes).  PASID builds: a 2-level CD table whose 1024 L1 descriptors
    point at 64 leaves (so SubstreamID s has ASID s & 0xffff).  The
    baseline cannot decode SubstreamIDs: the same tables are written, but
    its STE holds a single CD, and it ignores the PASID of the same DMA.
    RSS is read once the DMA is done."""
    for b in builds:
        m = Machine(b.binary, os.path.join(work, "hostile-%s.log" % b.name),
                    smmu=20 if b.pasid else 0)
        try:
            m.smmu_enable()
            ttb = m.map_data(12)
            base = m.cd_table(S1FMT_2LVL_64K, 20, None, ttb, 12, leaves=64)
            if b.pasid:
                m.ste(STE_CFG_S1, base, S1FMT_2LVL_64K, 20, S1DSS_BYPASS)
            else:
                cd = m.alloc(64, 64)
                m.q.write(cd, cd_bytes(ttb, 12, 1))
                m.ste(STE_CFG_S1, cd)
            before = m.q.status()
            first = min(nssid, 0xfffff)
            m.program("write", 4, first, tagged=True, pasid=0,
                      pasid_cnt=first)
            t = m.doorbell()
            if nssid > first:        # PASID_CNT holds at most 2^20 - 1
                m.program("write", 4, 1, tagged=True, pasid=first,
                          pasid_cnt=0)
                t += m.doorbell()
            after = m.q.status()
        finally:
            m.close()
        rec = records.setdefault(("hostile", b.name, "all-ssids", "write", 4,
                                  nssid), {
            "section": "hostile", "build": b.name, "config": "all-ssids",
            "op": "write", "size": 4, "pasids": nssid})
        rec.update(desc="%d distinct SubstreamIDs once each" % nssid,
                   ns=round(t / nssid, 1), rss_before_kib=before["VmRSS"],
                   rss_kib=after["VmRSS"], peak_rss_kib=after["VmHWM"])
        log("%s: %d SubstreamIDs, RSS %d -> %d KiB (peak %d), %.0f ns each" % (
            b.name, nssid, before["VmRSS"], after["VmRSS"], after["VmHWM"],
            t / nssid))


# ---- CFGI_STE + CMD_SYNC: invalidating one stream ---------------------------------
#
# Two test devices: A (00:03.0, StreamID 0x18), whose STE every measured
# CMD_CFGI_STE names, and B (00:04.0, StreamID 0x20).  Both STEs are
# stage 1 with ssidsize=20 and S1CDMax=20, sharing one 2-level CD table
# (64 KB leaves) with valid CDs for SubstreamIDs 0..CFGI_FILL.  A "fill"
# is one doorbell of a device: CFGI_FILL 4-byte reads with PASID_CNT =
# CFGI_FILL, PASIDs 1..CFGI_FILL, so CFGI_FILL (StreamID, SubstreamID)
# configurations get cached (8191 < SMMU_CONFIG_CACHE_MAX = 8192: the cache
# is never emptied for being full).  Cases, what is cached when the
# commands run:
#
#   empty   nothing: no DMA ever ran.
#   other   B's 8191 configurations (filled once).  CFGI_STE(A) must not
#           touch them, so the cache stays full for every command of
#           every batch, in any build.
#   same    A's own 8191 configurations: an invalidation that has to
#           drop them.  A build that drops them at once leaves nothing
#           for the next command, so only the first command after a
#           fill counts: per run, CFGI_SAME_REPS times: fill A, submit
#           two CMD_SYNCs, then two submits of one pair (D1 full, D1
#           after: the same submit once the first has invalidated);
#           then the batches in that after-state; the
#           result is per-pair(after-state) + D1 full - D1 after.
#
# Per-pair cost of empty and other: (T(K) - T(K/4)) / (3K/4) of two
# submits of K and K/4 pairs, as for the DMA workloads; K is picked per
# build and case so that a long batch takes about 20 ms (5 ms with
# --quick; at most CFGI_KMAX pairs, the queue holds 2^19 commands).  The
# D1 difference of "same" is the median of CFGI_SAME_REPS per run.  Wall time: median of
# interleaved runs.  Ir: the same differences, counted by callgrind in
# smmu_write_mmio() only, with a dump forced (a read of a test device
# register) right before and right after each counted submit.

CFGI_B_DEVFN = 4 << 3
CFGI_B_SID = CFGI_B_DEVFN
CFGI_B_BAR = PCI_MMIO + 0x10000
CFGI_FILL = 8191
CFGI_KMAX = (1 << 18) - 4        # pairs: 2 * K < 2^19 queue entries
CFGI_SAME_REPS = 3               # fills and D1 differences per run
CFGI_CASES = ("empty", "other", "same")
CFGI_DESC = {
    "empty": "configuration cache empty",
    "other": "8191 configurations of another stream cached",
    "same": "8191 configurations of this stream cached (first command "
            "after they were)",
}
CFGI_PAIR = struct.pack("<8I", CMD_CFGI_STE, TESTDEV_SID, 1, 0,
                        CMD_SYNC, 0, 0, 0)
SYNC_PAIR = struct.pack("<8I", CMD_SYNC, 0, 0, 0, CMD_SYNC, 0, 0, 0)


def cfgi_machine(b, log, prefix=()):
    """Both devices and their STEs; a PASID build gets the shared 2-level
    CD table, the baseline (10.2.2's SMMU, no SubstreamIDs) one CD each."""
    m = Machine(b.binary, log, smmu=20 if b.pasid else 0, prefix=prefix,
                testdevs=((CFGI_B_DEVFN, CFGI_B_BAR),))
    m.smmu_enable(cmdq_log2size=CMDQ_LOG2SIZE_MAX)
    ttb = m.map_data(12)
    if b.pasid:
        base = m.cd_table(S1FMT_2LVL_64K, 20, set(range(CFGI_FILL + 1)), ttb,
                          12)
        for sid in (TESTDEV_SID, CFGI_B_SID):
            m.ste(STE_CFG_S1, base, S1FMT_2LVL_64K, 20, S1DSS_SSID0, sid=sid)
    else:
        cd = m.alloc(64, 64)
        m.q.write(cd, cd_bytes(ttb, 12, 1))
        for sid in (TESTDEV_SID, CFGI_B_SID):
            m.ste(STE_CFG_S1, cd, sid=sid)
    return m


def cfgi_fill(m, bar):
    m.program("read", 4, CFGI_FILL, tagged=True, pasid=1,
              pasid_cnt=CFGI_FILL, bar=bar)
    m.doorbell(bar=bar)


def cfgi_batch(m, k):
    """K pairs CFGI_STE(A); CMD_SYNC by one CMDQ_PROD write: its ns."""
    m.commands(CFGI_PAIR * k)
    return m.submit()


def cfgi_same_d1(m, submit):
    """After a fill of A: a submit of two CMD_SYNCs (so that neither
    measured submit is the first after the device's doorbell), then
    SUBMIT(1) twice: the pair that drops A's configurations, and the same
    pair once they are gone.  Returns the difference of the two."""
    m.commands(SYNC_PAIR)
    m.submit()
    return submit(1) - submit(1)


def cfgi_to_same(m):
    """From the other case to the same case: CFGI_STE(B), then fill A
    twice.  A build that leaves B's invalidated entries in the cache
    until they are looked up empties it when it becomes full during the
    first fill (8191 + 1 entries); the second fill caches what the first
    lost then, so A ends with its 8191 configurations in any build."""
    m.commands(struct.pack("<8I", CMD_CFGI_STE, CFGI_B_SID, 1, 0,
                           CMD_SYNC, 0, 0, 0))
    m.submit()
    cfgi_fill(m, BAR)
    cfgi_fill(m, BAR)


def cfgi_cases(b):
    return CFGI_CASES if b.pasid else ("empty",)


def cfgi_k(m, target_ns):
    """K for a long batch of about TARGET_NS (at most CFGI_KMAX), a
    multiple of 4: grown from 64 until a batch takes that long."""
    k = 64
    while True:
        t = cfgi_batch(m, k)
        if t >= target_ns or k >= CFGI_KMAX:
            return k
        k = min(CFGI_KMAX, k * min(8, max(2, int(target_ns / t))) // 4 * 4)


def run_cfgi_wall(builds, work, runs, target_ns, records):
    """One machine per (build, case), interleaved run by run."""
    machines = {}
    try:
        for b in builds:
            for case in cfgi_cases(b):
                m = cfgi_machine(b, os.path.join(
                    work, "cfgi-%s-%s.log" % (b.name, case)))
                if case == "other":
                    cfgi_fill(m, CFGI_B_BAR)
                elif case == "same":
                    cfgi_fill(m, BAR)
                machines[(b, case)] = m
        ks = {key: cfgi_k(m, target_ns) for key, m in machines.items()}
        times = {key: [] for key in machines}
        for run in range(runs):
            for (b, case), m in machines.items():
                k = ks[(b, case)]
                extra = 0
                if case == "same":
                    d1 = []
                    for _ in range(CFGI_SAME_REPS):
                        cfgi_fill(m, BAR)
                        d1.append(cfgi_same_d1(
                            m, lambda n: cfgi_batch(m, n)))
                    extra = statistics.median(d1)
                t_lo = cfgi_batch(m, k // 4)
                t_hi = cfgi_batch(m, k)
                times[(b, case)].append((t_hi - t_lo) / (k - k // 4) + extra)
        for (b, case), m in machines.items():
            if m.events():
                raise RuntimeError("SMMU events on cfgi %s/%s" % (b.name,
                                                                   case))
    finally:
        for m in machines.values():
            m.close()
    for (b, case), t in times.items():
        rec = records.setdefault(("cfgi", b.name, case), cfgi_record(b, case))
        rec.update(k=ks[(b, case)], runs=len(t),
                   ns=round(statistics.median(t), 1),
                   ns_min=round(min(t), 1), ns_max=round(max(t), 1))


def cfgi_record(b, case):
    return {"section": "cfgi", "build": b.name, "config": case,
            "desc": CFGI_DESC[case], "op": "cfgi_ste+sync", "size": 0,
            "pasids": 0 if case == "empty" else CFGI_FILL,
            "binary": b.binary}


def latest_dump(outdir):
    n = [int(f.rsplit(".", 1)[1]) for f in os.listdir(outdir)
         if f.rsplit(".", 1)[-1].isdigit()]
    return os.path.join(outdir, "callgrind.out.%d" % max(n))


def cfgi_callgrind(b, work, k):
    """Every case of build B in one QEMU under callgrind, in the order
    empty, other, same; returns {case: Ir per pair}."""
    outdir = os.path.join(work, "cg-cfgi-%s" % b.name)
    out = os.path.join(outdir, "callgrind.out")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    prefix = callgrind_prefix(out, collect="smmu_write_mmio")
    m = cfgi_machine(b, os.path.join(work, "cg-cfgi-%s.log" % b.name), prefix)

    def counted(n):
        m.q.readl(BAR + TD_ID)             # dump what came before
        cfgi_batch(m, n)
        m.q.readl(BAR + TD_ID)             # dump this submit alone
        return dump_ir(latest_dump(outdir))

    def per_pair():
        counted(16)                        # warm up
        lo = counted(k // 4)
        return (counted(k) - lo) / (k - k // 4)

    result = {}
    try:
        result["empty"] = per_pair()
        if b.pasid:
            cfgi_fill(m, CFGI_B_BAR)
            result["other"] = per_pair()
            cfgi_to_same(m)
            result["same"] = cfgi_same_d1(m, counted) + per_pair()
        if m.events():
            raise RuntimeError("SMMU events on cfgi %s" % b.name)
    finally:
        m.close()
        shutil.rmtree(outdir, ignore_errors=True)
    return result


def run_cfgi(builds, work, runs, target_ns, ir_k, records, jobs):
    run_cfgi_wall(builds, work, runs, target_ns, records)
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = [(b, ex.submit(cfgi_callgrind, b, work, ir_k))
                for b in builds]
        for b, f in futs:
            for case, ir in f.result().items():
                records[("cfgi", b.name, case)]["ir"] = round(ir)
    for b in builds:
        log("%s: %s" % (b.name, ", ".join(
            "%s %.0f ns %s Ir" % (case, records[("cfgi", b.name, case)]["ns"],
                                  records[("cfgi", b.name, case)].get("ir", "-"))
            for case in cfgi_cases(b))))


# ---- main ------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patched", required=True, help="qemu-system-aarch64 "
                    "of the series")
    ap.add_argument("--base", help="qemu-system-aarch64 of 10.2.2 + "
                    "patches 0001-0003 (only --parts cfgi,scaling run "
                    "without it)")
    ap.add_argument("--extra", action="append", default=[],
                    help="NAME=BINARY: another build of the series")
    ap.add_argument("--extra-build", action="append",
                    default=os.environ.get("BENCH_EXTRA_BUILD", "").split(),
                    help="NAME=BINARY: another build of the series, "
                    "measured in the cfgi part only (e.g. the series "
                    "without a fix); default: $BENCH_EXTRA_BUILD, "
                    "space-separated")
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", default="wall,ir,scaling,hostile,cfgi",
                    help="comma-separated: wall,ir,scaling,hostile,cfgi "
                    "(cfgi: wall time and instructions)")
    args = ap.parse_args()

    quick = args.quick
    parts = args.parts.split(",")
    if not args.base and not set(parts) <= {"cfgi", "scaling"}:
        ap.error("--base is needed by --parts " + args.parts)
    builds = [Build("patched", args.patched, True)]
    if args.base:
        builds.append(Build("baseline", args.base, False))
    for e in args.extra:
        name, _, binary = e.partition("=")
        builds.append(Build(name, binary, True))
    cfgi_builds = list(builds)
    for e in args.extra_build:
        name, _, binary = e.partition("=")
        if not name or not os.access(binary, os.X_OK):
            ap.error("--extra-build %s: want NAME=BINARY" % e)
        cfgi_builds.append(Build(name, binary, True))
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    runs = 3 if quick else 9
    total = (8 if quick else 64) * MiB     # bytes of a long timed run
    ir_total = (256 * KiB if quick else 2 * MiB)
    jobs = os.cpu_count() or 1
    records = {}
    wls = workloads(quick)

    t0 = time.time()
    if "wall" in parts:
        print("== qtest: wall time, %d cells x %d runs" % (
            len(cells_for(builds, wls)), runs), flush=True)
        run_wall(builds, wls, args.work, runs, total, records)
        log("done in %.0f s" % (time.time() - t0))
    if "scaling" in parts:
        t = time.time()
        ns_list = (1, 256, 4096) if quick else SCALING
        print("== qtest: live PASIDs %s" % (ns_list,), flush=True)
        run_scaling(builds[0], args.work, runs, ns_list, records, jobs,
                    "ir" in parts)
        log("done in %.0f s" % (time.time() - t))
    if "hostile" in parts:
        t = time.time()
        nssid = 65536 if quick else 1 << 20
        print("== qtest: hostile, %d SubstreamIDs" % nssid, flush=True)
        run_hostile(builds[:2], args.work, records, nssid)
        log("done in %.0f s" % (time.time() - t))
    if "cfgi" in parts:
        t = time.time()
        print("== qtest: CFGI_STE + CMD_SYNC (%s)" % ", ".join(
            b.name for b in cfgi_builds), flush=True)
        run_cfgi(cfgi_builds, args.work, runs, (5 if quick else 20) * 1e6,
                 64 if quick else 256, records, jobs)
        log("done in %.0f s" % (time.time() - t))
    if "ir" in parts:
        t = time.time()
        print("== qtest: callgrind instruction counts (%d QEMUs, %d at a "
              "time)" % (len({(b.name, w.config) for b, w in
                              cells_for(builds, wls)}), jobs), flush=True)
        run_callgrind(builds, wls, args.work, ir_total, records, jobs)
        log("done in %.0f s" % (time.time() - t))

    with open(os.path.join(args.out, "qtest.json"), "w") as f:
        json.dump(list(records.values()), f, indent=1)
    print("== qtest part done in %.0f s" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
