#!/usr/bin/python3
"""The guest part of 'make bench': Debian's arm64 kernel under TCG.

Boots it (QEMU's QEMUMachine) with "pasidtest=bench", so that the init
runs tests/guest/bench.sh, for each (build, configuration) of
workloads.GUEST_RUNS, interleaved, as many rounds as fit --budget; the
medians of boot-to-shell and of the cold reads go to --out/guest.json.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemupy import QEMUMachine  # noqa: E402
from workloads import GUEST_CONFIGS, GUEST_RUNS  # noqa: E402

MARK = re.compile(r"^(?:\[\s*([0-9.]+)\] )?@@ (\S+) ?(.*)$")
BLOCKS = ("4096", "65536")
RESULTS = ("boot_s", "boot_guest_s", "read_4096_s", "read_65536_s")


def qemu_args(args, ssidsize):
    out = ["-M", "virt" + (",iommu=smmuv3" if ssidsize is not None else ""),
           "-cpu", "max,pauth-impdef=on", "-smp", "2", "-m", "1G",
           "-nic", "none", "-no-reboot",
           "-kernel", args.kernel, "-initrd", args.initrd,
           "-append", "console=ttyAMA0 panic=-1 printk.devkmsg=on "
                      "pasidtest=bench bench_mib=%d"
                      % (os.path.getsize(args.disk) >> 20)]
    if ssidsize:
        out += ["-global", "arm-smmuv3.ssidsize=%d" % ssidsize]
    for i, img in enumerate((args.small, args.disk)):
        out += ["-drive", "file=%s,if=none,format=raw,id=disk%d,readonly=on"
                % (img, i),
                "-device", "virtio-blk-pci,drive=disk%d,addr=%02d.0,"
                "disable-legacy=on,iommu_platform=on" % (i, 3 + i)]
    return out


def read_console(vm, t0, logf, timeout):
    """The console's lines until QEMU exits, logged with the host time;
    returns its markers: [(name, kernel timestamp, value, host seconds)]."""
    marks = []
    vm.console_socket.settimeout(timeout)
    with vm.console_socket.makefile("rb") as console:
        for raw in console:
            now = time.monotonic() - t0
            line = raw.decode(errors="replace").rstrip("\r\n")
            logf.write("%9.3f %s\n" % (now, line))
            m = MARK.match(line)
            if m:
                ts, name, value = m.groups()
                marks.append((name, ts and float(ts), value, now))
            if now > timeout:
                raise RuntimeError("timeout")
    return marks


def marker(marks, name, first=None):
    """The first marker NAME (whose value starts with the word FIRST):
    (kernel timestamp, value, host seconds), or (None, "", None)."""
    return next(((ts, v, host) for n, ts, v, host in marks if n == name and
                 first in (None, (v.split() or [""])[0])), (None, "", None))


def boot(binary, ssidsize, args, log):
    """One boot; returns {boot_s, boot_guest_s, read_4096_s, read_65536_s}."""
    vm = QEMUMachine(binary, qemu_args(args, ssidsize),
                     name=os.path.basename(log), base_temp_dir=args.work)
    vm.set_console()
    for img in (args.small, args.disk):     # into the host's page cache
        with open(img, "rb") as f:
            while f.read(1 << 22):
                pass
    with vm, open(log, "w") as logf:
        logf.write(" ".join([binary] + vm.args) + "\n")
        t0 = time.monotonic()
        vm.launch()
        marks = read_console(vm, t0, logf, args.timeout)
        vm.wait()
    guest_ts, _, boot_s = marker(marks, "kernel")
    if boot_s is None or marker(marks, "bench_disk", "none")[1]:
        raise RuntimeError("no kernel or no benchmark disk (see %s)" % log)
    res = {"boot_s": boot_s, "boot_guest_s": guest_ts}
    for bs in BLOCKS:
        start, _, _ = marker(marks, "bench_start", bs)
        end, out, _ = marker(marks, "bench_end", bs)
        if start is None or end is None or "records in" not in out:
            raise RuntimeError("no read of %s-byte blocks (see %s)"
                               % (bs, log))
        res["read_%s_s" % bs] = end - start
    return res


def median_record(build, config, rs):
    rec = {"section": "guest", "build": build, "config": config,
           "runs": len(rs)}
    for k in RESULTS:
        vals = [r[k] for r in rs if r.get(k) is not None]
        if vals:
            rec[k] = round(statistics.median(vals), 3)
            rec[k + "_all"] = [round(v, 3) for v in vals]
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for opt in ("patched", "unpatched", "kernel", "initrd", "disk", "small",
                "out", "work"):
        ap.add_argument("--" + opt, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--budget", type=int, default=420,
                    help="seconds: start no round that would end later")
    ap.add_argument("--configs", default=",".join(GUEST_CONFIGS),
                    help="comma-separated names of workloads.GUEST_CONFIGS")
    args = ap.parse_args()

    binaries = {"patched": args.patched, "unpatched": args.unpatched}
    runs = [(b, c) for b, c in GUEST_RUNS if c in args.configs.split(",")]
    os.makedirs(args.work, exist_ok=True)
    results = {run: [] for run in runs}
    t0 = time.time()
    print("== guest: %d configurations x %d boots (at most %d s)" % (
        len(runs), args.runs, args.budget), flush=True)
    for n in range(args.runs):
        # 'make bench' has a time budget: no round that would overrun it
        # (one round of all configurations always runs)
        took = time.time() - t0
        if n and took + took / n > args.budget:
            print("   %d round(s): another would pass the %d s budget" % (
                n, args.budget), flush=True)
            break
        for build, config in runs:
            log = os.path.join(args.work, "guest-%s-%s-%d.log"
                               % (build, config, n))
            r = boot(binaries[build], GUEST_CONFIGS[config], args, log)
            results[(build, config)].append(r)
            print("   %-9s %-11s boot %.2f s, read 4 KiB %.2f s, 64 KiB "
                  "%.2f s" % (build, config, r["boot_s"], r["read_4096_s"],
                              r["read_65536_s"]), flush=True)
    with open(os.path.join(args.out, "guest.json"), "w") as f:
        json.dump([median_record(b, c, rs) for (b, c), rs in results.items()],
                  f, indent=1)
    print("== guest part done in %.0f s" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    sys.exit(main())
