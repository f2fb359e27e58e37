#!/usr/bin/python3
"""Turn the benchmark's records (DIR/qtest.json, DIR/guest.json, either
may be missing) into DIR/results.md, results.csv and results.png, judging
the targets of workloads.TARGETS (reported, never asserted).

    report.py --out DIR [--meta FILE]   (FILE: the lines of the header)
"""

import argparse
import csv
import json
import os
import sys
from itertools import product

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import (CONFIGS, WORKLOADS, TARGETS, NOTES,  # noqa: E402
                       METRICS, CFGI_CASES, KiB, MiB, OPS, SIZES,
                       MISS_PASIDS, CFGMISS_PASIDS, qtest)


def size_name(n):
    for unit, name in ((MiB, "MiB"), (KiB, "KiB")):
        if n >= unit and n % unit == 0:
            return "%d %s" % (n // unit, name)
    return "%d B" % n


def fmt(v, digits=0, suffix=""):
    if v is None:
        return "-"
    if isinstance(v, float) and digits:
        return ("%." + str(digits) + "f%s") % (v, suffix)
    return "{:,}{}".format(int(round(v)), suffix)


def rfmt(x, y=1):
    """x / y to three decimals, or "-" when either is missing (or y 0)."""
    return "-" if x is None or not y else "%.3f" % (x / y)


def small_ratio(x, y):
    """x / y, as 1/N below 0.1 (where three decimals would say 0.000)."""
    if x is None or not y or x <= 0:
        return "-"
    r = x / y
    return "1/{:,}".format(round(1 / r)) if r < 0.1 else rfmt(r)


def mib(kib):
    return fmt(kib / 1024, 1, " MiB")


def row_name(config, pasids):
    """A qtest row: its configuration, and with SubstreamIDs its traffic."""
    if not CONFIGS[config].ssidsize:
        return config
    return "%s, %s" % (config, {0: "untagged", 1: "tagged"}.get(
        pasids, "%d PASIDs" % pasids))


def table(head, rows):
    return "\n".join(["| " + " | ".join(head) + " |",
                      "|---" + "|---:" * (len(head) - 1) + "|"] +
                     ["| " + " | ".join(str(c) for c in r) + " |"
                      for r in rows])


class Results(list):
    """The records, looked up by their fields."""

    def get(self, **want):
        """The first record with the fields WANT, or {}."""
        return next((r for r in self
                     if all(r.get(k) == v for k, v in want.items())), {})

    def section(self, name, by=None):
        """Its records, in the order recorded or sorted by the field BY."""
        recs = [r for r in self if r.get("section") == name]
        return sorted(recs, key=lambda r: r[by]) if by else recs


# ---- targets and notes (workloads.TARGETS, workloads.NOTES) ----------------

def where(variant):
    return " ".join(size_name(v) if k == "size" else
                    "%d PASIDs" % v if k == "pasids" else str(v)
                    for k, v in variant.items())


def compared(res, spec, metric):
    """[(where, num, den, num / den or num - den)] of SPEC's METRIC, over
    its variants that have both records."""
    out = []
    for variant in spec.get("over", [{}]):
        num = res.get(**dict(variant, **spec["num"]))
        den = res.get(**dict(variant, **spec["den"]))
        a, b = num.get(metric), den.get(metric)
        if a is None or not b or any((num.get(k) or 0) < least for k, least
                                     in spec.get("where", {}).items()):
            continue
        out.append((where(variant), a, b, a - b if spec.get("diff")
                    else round(a / b, 3)))
    return out


def vfmt(spec, v):
    return "{:+,}".format(round(v)) if spec.get("diff") else rfmt(v)


def measured(spec, name, vals, worst):
    if len(vals) == 1:
        w, a, b, v = vals[0]
        return "%s%s: %s %s %s = %s" % (name, w and " " + w, fmt(a, 2),
                                        "-" if spec.get("diff") else "/",
                                        fmt(b, 2), vfmt(spec, v))
    text = "%s: worst %s at %s" % (name, vfmt(spec, worst[3]), worst[0])
    if len(vals) <= 4:
        text += " (%s)" % ", ".join("%s %s" % (w, vfmt(spec, v))
                                    for w, _, _, v in vals)
    return text


def judge(res, t):
    """(title, measured, verdict) of target T, or None without records."""
    texts, verdicts = [], []
    for metric in t["metrics"]:
        vals = compared(res, t, metric)
        if not vals:
            continue
        name, least = METRICS[metric], "least" in t
        worst = (min if least else max)(vals, key=lambda v: v[3])
        ok = worst[3] >= t["least"] if least else worst[3] <= t["most"]
        texts.append(measured(t, name, vals, worst))
        verdicts.append(("**pass**" if ok else "**MISS**") +
                        (" (%s)" % name if len(t["metrics"]) > 1 else ""))
    return (t["title"], "; ".join(texts), ", ".join(verdicts)) \
        if texts else None


def notes(res):
    """The notes whose values this run has, filled in."""
    out = []
    for text, specs in NOTES:
        vals = []
        for spec in specs:
            got = [v for _, _, _, v in compared(res, spec, spec["metric"])]
            vals += [min(got), max(got)] if spec.get("range") and got else got
        try:
            out.append("- " + text.format(*vals))
        except IndexError:
            pass
    return "\n".join(out)


# ---- tables ----------------------------------------------------------------

def legend_table(res):
    used = {r["config"] for r in res}
    return table(["configuration", "what"],
                 [[name, c.title] for name, c in CONFIGS.items()
                  if name in used])


def config_rows(res, rows, with_ratios):
    """For each op and size, the rows (section, configuration, PASIDs):
    patched vs baseline time and Ir, throughput relative to no IOMMU."""
    out = []
    for op, size in product(OPS, SIZES):
        a = res.get(**qtest("no-iommu", op=op, size=size)).get("ns")
        for sec, cfg, n in rows:
            sel = qtest(cfg, n, sec, op=op, size=size)
            p, b = res.get(**sel), res.get(**dict(sel, build="baseline"))
            if not p:
                continue
            ns = [fmt(p.get("ns")), fmt(b.get("ns"))]
            ir = [fmt(p.get("ir")), fmt(b.get("ir"))]
            if with_ratios:
                ns.append(rfmt(p.get("ns"), b.get("ns")))
                ir += [rfmt(p.get("ir"), b.get("ir")), fmt(p.get("mib_s"))]
            out.append([op, size_name(size), row_name(cfg, n)] + ns + ir +
                       [rfmt(a, p.get("ns"))])
    return out


def main_table(res):
    head = ["op", "size", "configuration", "patched ns", "baseline ns",
            "time ratio", "patched Ir", "baseline Ir", "Ir ratio", "MiB/s",
            "x no IOMMU"]
    rows = [(sec, cfg, n) for sec, cfg, n, *_ in WORKLOADS if sec == "main"]
    return table(head, config_rows(res, rows, True))


def granule_table(res):
    head = ["op", "size", "configuration", "patched ns", "baseline ns",
            "patched Ir", "baseline Ir", "x no IOMMU (time)"]
    rows = [("main", "s1-4k", 0), ("granule", "s1-64k", 0),
            ("main", "pasid-2lvl-4k", 1), ("granule", "pasid-2lvl-64k", 1)]
    return table(head, config_rows(res, rows, False))


def iotlb_table(res):
    """PASID 1 (hits) against MISS_PASIDS round robin (misses)."""
    head = ["size", "granule", "hits: ns", "misses: ns", "hits: Ir",
            "misses: Ir", "miss/hit (Ir)", "Ir per page walked"]
    rows = []
    for size, (sec, cfg) in product(SIZES, (("main", "pasid-2lvl-4k"),
                                            ("granule", "pasid-2lvl-64k"))):
        h = res.get(**qtest(cfg, 1, sec, op="read", size=size))
        m = res.get(**qtest(cfg, MISS_PASIDS, "iotlb", op="read", size=size))
        if not h or not m:
            continue
        gran = CONFIGS[cfg].granule
        pages = max(1, size >> gran)
        hits = fmt(h.get("ns"))
        if pages > 256:
            # one PASID already misses: more pages than IOTLB entries
            h, hits = {}, "(%d pages > 256 entries: no hits)" % pages
        walked = "+" + fmt((m["ir"] - h["ir"]) / pages) \
            if h.get("ir") and m.get("ir") else "-"
        rows.append([size_name(size), "%d KB" % ((1 << gran) // 1024), hits,
                     fmt(m.get("ns")), fmt(h.get("ir")), fmt(m.get("ir")),
                     rfmt(m.get("ir"), h.get("ir")), walked])
    return table(head, rows)


def cdtable_table(res):
    head = ["configuration", "1 PASID: ns", "1 PASID: Ir",
            "%d PASIDs: ns" % CFGMISS_PASIDS, "%d PASIDs: Ir" % CFGMISS_PASIDS]
    rows = []
    for cfg in ("pasid-2lvl-4k", "pasid-linear-4k"):
        h = res.get(**qtest(cfg, 1, "cdtable"))
        m = res.get(**qtest(cfg, CFGMISS_PASIDS, "cdtable"))
        if h or m:
            rows.append([cfg, fmt(h.get("ns")), fmt(h.get("ir")),
                         fmt(m.get("ns")), fmt(m.get("ir"))])
    return table(head, rows)


def scaling_table(res):
    head = ["live PASIDs", "ns/transfer", "x 1 PASID", "Ir/transfer",
            "x 1 PASID (Ir)", "config cache hits", "IOTLB hits",
            "peak RSS"]
    one = res.get(section="scaling", pasids=1)
    rows = [[fmt(r["pasids"]), fmt(r.get("ns")),
             rfmt(r.get("ns"), one.get("ns")), fmt(r.get("ir")),
             rfmt(r.get("ir"), one.get("ir")),
             fmt(r.get("cfg_hit_pct"), 1, "%"),
             fmt(r.get("iotlb_hit_pct"), 1, "%"),
             mib(r.get("peak_rss_kib") or 0)]
            for r in res.section("scaling", by="pasids")]
    return table(head, rows)


def hostile_table(res):
    head = ["build", "SubstreamIDs", "RSS before", "RSS after", "peak RSS",
            "ns per transfer"]
    rows = [[r["build"], fmt(r["pasids"])] +
            [mib(r[k]) for k in ("rss_before_kib", "rss_kib",
                                 "peak_rss_kib")] +
            [fmt(r.get("ns"))] for r in res.section("hostile")]
    return table(head, rows)


def cfgi_table(res):
    """Builds: others (e.g. the series without a fix), patched, baseline;
    then per build what a full cache costs."""
    order = {"patched": 1, "baseline": 2}
    builds = sorted(dict.fromkeys(r["build"] for r in res.section("cfgi")),
                    key=lambda n: order.get(n, 0))
    others = [b for b in builds if b not in order]
    recs = {(b, c): res.get(section="cfgi", build=b, config=c)
            for b in builds + ["patched"] for c in CFGI_CASES}
    head = ["configuration cache"] + \
        ["%s %s" % (b, k) for k in ("Ir", "ns") for b in builds] + \
        ["%s patched / %s" % (k, b) for b in others for k in ("Ir", "time")]
    rows = [[name] + [fmt(recs[b, c].get(k)) for k in ("ir", "ns")
                      for b in builds] +
            [small_ratio(recs["patched", c].get(k), recs[b, c].get(k))
             for b in others for k in ("ir", "ns")]
            for c, name in CFGI_CASES.items()
            if any(recs[b, c] for b in builds)]
    lines = [table(head, rows), ""]
    for b in builds:
        ir = {c: recs[b, c].get("ir") for c in CFGI_CASES}
        full = ["%s %s" % (c, small_ratio(ir[c], ir["empty"]))
                for c in ("other", "same") if ir[c] is not None]
        binary = recs[b, "empty"].get("binary")
        if full or binary:
            lines.append("- %s%s%s" % (
                b, " (`%s`)" % binary if binary else "",
                (": Ir with a full cache / Ir with an empty one: " +
                 ", ".join(full)) if full and ir["empty"] else ""))
    return "\n".join(lines)


def guest_table(res):
    head = ["build", "configuration", "boots", "boot to shell (host)",
            "kernel timestamp at shell", "read 256 MiB, 4 KiB O_DIRECT",
            "read 256 MiB, 64 KiB O_DIRECT"]
    keys = ("boot_s", "boot_guest_s", "read_4096_s", "read_65536_s")
    return table(head, [[r["build"], r["config"], r.get("runs")] +
                        [fmt(r.get(k), 2, " s") for k in keys]
                        for r in res.section("guest")])


# ---- the document ----------------------------------------------------------

# (title, the section of records it needs, parts: text or table function)
SECTIONS = (
    ("Configurations and transfer sizes (qtest)", "main", (
        "Time and instructions per transfer (one DMA of the given size by "
        "the test device).  4 KB granule; every 4 KiB page is one "
        "translation.  2 MiB = 512 pages exceeds QEMU's 256-entry IOTLB, so "
        "stage 1 misses there on every page (see the IOTLB table).  "
        "*time ratio*, *Ir ratio*: patched / baseline; *x no IOMMU*: "
        "throughput relative to no-iommu.  PASID configurations carry "
        "untagged traffic (CD 0, S1DSS=SSID0), traffic tagged with PASID "
        "1, or traffic round robin over N PASIDs.", legend_table,
        main_table)),
    ("Granule, IOTLB hits and misses", "granule", (
        granule_table,
        "IOTLB misses (full walks): PASID-tagged reads round robin over "
        "%d PASIDs, each with its own ASID (%d > 256 IOTLB entries, < 8192 "
        "configuration cache entries: the configuration still hits)."
        % (MISS_PASIDS, MISS_PASIDS), iotlb_table)),
    ("Linear vs 2-level CD tables (4 KiB reads)", "cdtable", (
        "The CD table format only matters when the configuration cache "
        "misses (a CD fetch); %d PASIDs round robin exceed its 8192 "
        "entries." % CFGMISS_PASIDS, cdtable_table)),
    ("Live PASIDs on one stream (4 KiB reads, round robin)", "scaling",
     (scaling_table,)),
    ("Hostile: every SubstreamID once (4-byte writes)", "hostile",
     (hostile_table,)),
    ("Invalidating one stream: CMD_CFGI_STE + CMD_SYNC", "cfgi", (
        "Instructions (in the SMMU's MMIO write handler) and time per pair "
        "CMD_CFGI_STE(StreamID A); CMD_SYNC, queued K at a time and run by "
        "one CMDQ_PROD write: (T(K) - T(K/4)) / (3K/4), K chosen per build "
        "and case (a long batch takes about 20 ms, or holds the most pairs "
        "the queue takes: 262,140).  Stage 1, ssidsize=20, 2-level CD "
        "table.  *8191 entries of another stream*: a second test device "
        "(StreamID B) cached 8191 (B, SubstreamID) configurations; "
        "CFGI_STE(A) leaves them, so the cache stays full for every "
        "command.  *This stream*: A's own 8191, which the command has to "
        "drop; only the first command after they were cached sees them, so "
        "that row is the per-pair cost once they are gone plus the "
        "difference between a one-pair submit right after A cached them "
        "and the next one-pair submit (its time, from single round trips, "
        "median of 3 per run, is the noisiest number here: the "
        "instructions are exact).  The baseline (10.2.2's SMMU) caches one "
        "configuration per stream: only the empty case.", cfgi_table)),
    ("Guest level (Debian arm64 kernel, TCG)", "guest", (
        "virtio-blk behind the SMMU (iommu_platform=on).  Linux gives "
        "virtio-blk, which has no PASID capability, a single-CD STE "
        "whatever ssidsize is (scripts/guest-boot.sh checks this); "
        "ssidsize changes what the SMMU advertises and decodes.",
        guest_table)),
)


def document(res, meta):
    md = ["# SMMUv3 translation benchmark: results", ""]
    if meta:
        md += ["- " + line for line in meta] + [""]
    verdicts = [v for v in (judge(res, t) for t in TARGETS) if v]
    if verdicts:
        md += ["## Targets", "",
               table(["target", "measured", "verdict"], verdicts), ""]
    shown = [(title, parts) for title, needs, parts in SECTIONS
             if res.section(needs)]
    for n, (title, parts) in enumerate(shown, 1):
        md += ["## %d. %s" % (n, title), ""]
        for p in parts:
            md += [p if isinstance(p, str) else p(res), ""]
    md += ["## Notes", "", notes(res), ""]
    return "\n".join(md), verdicts


# ---- plot ------------------------------------------------------------------

def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_scale, ax_guest) = plt.subplots(1, 3, figsize=(17, 5.2))
    bars = [(cfg, 0, b) for cfg in ("no-iommu", "bypass", "s1-4k")
            for b in ("patched", "baseline")] + [("pasid-2lvl-4k", 1,
                                                  "patched")]
    width = 0.8 / len(bars)
    for i, (cfg, n, b) in enumerate(bars):
        ys = [res.get(**dict(qtest(cfg, n, op="read", size=s),
                             build=b)).get("ns") or 0 for s in SIZES]
        ax.bar([x + i * width for x in range(len(SIZES))], ys, width,
               label="%s %s" % (row_name(cfg, n), b),
               hatch="//" if b == "baseline" else None)
    ax.set(yscale="log",
           xticks=[x + 0.4 - width / 2 for x in range(len(SIZES))],
           xticklabels=[size_name(s) for s in SIZES],
           ylabel="ns per transfer (read, median)",
           title="DMA reads through the SMMU (qtest)")
    ax.legend(fontsize=7)

    recs = res.section("scaling", by="pasids")
    if recs:
        ax = ax_scale
        xs = [r["pasids"] for r in recs]
        ax.plot(xs, [r.get("ns") for r in recs], "o-", label="ns / 4 KiB read")
        ax.set_xscale("log", base=2)
        ax.set(xlabel="live PASIDs (round robin)", ylabel="ns per transfer")
        ax2 = ax.twinx()
        for key, style, color, label in (
                ("cfg_hit_pct", "s--", "g", "config cache hit %"),
                ("iotlb_hit_pct", "^--", "r", "IOTLB hit %")):
            ax2.plot(xs, [r.get(key) for r in recs], style, color=color,
                     label=label)
        ax2.set(ylim=(-5, 105), ylabel="hit rate %")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="center left")
        ax.set_title("Scaling with live PASIDs (patched)")

    guest = res.section("guest")
    if guest:
        ax = ax_guest
        x = range(len(guest))
        for j, (k, lab) in enumerate((("read_4096_s", "4 KiB"),
                                      ("read_65536_s", "64 KiB"),
                                      ("boot_s", "boot to shell"))):
            ax.bar([i + j * 0.27 for i in x], [g.get(k) or 0 for g in guest],
                   0.27, label=lab)
        ax.set_xticks([i + 0.27 for i in x])
        ax.set_xticklabels(["%s\n%s" % (g["config"], g["build"])
                            for g in guest], fontsize=7)
        ax.set(ylabel="seconds (median)",
               title="Guest: cold 256 MiB O_DIRECT read, boot")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


# ---- main ------------------------------------------------------------------

def load(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def write_csv(recs, path):
    """Every field of the records but the lists (the guest's runs)."""
    fields = dict.fromkeys(k for r in recs for k, v in r.items()
                           if not isinstance(v, list))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        w.writeheader()
        w.writerows(recs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--meta", type=argparse.FileType(),
                    help="the lines of the header")
    args = ap.parse_args()

    res = Results(load(os.path.join(args.out, "qtest.json")) +
                  load(os.path.join(args.out, "guest.json")))
    meta = [line.rstrip("\n") for line in args.meta or () if line.strip()]
    text, verdicts = document(res, meta)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    write_csv(res, os.path.join(args.out, "results.csv"))
    try:
        plot(res, os.path.join(args.out, "results.png"))
    except ImportError as e:
        print("no plot: %s (python3-matplotlib)" % e, file=sys.stderr)
    for v in verdicts:
        print("   %-10s %s" % (v[2].replace("*", ""), v[0]))


if __name__ == "__main__":
    main()
