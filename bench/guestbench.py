#!/usr/bin/python3
"""The guest part of 'make bench': Debian's arm64 kernel under TCG.

Boots the kernel of 'make guest' the way scripts/guest-boot.sh does, with
"pasidtest=bench" so that the init sources tests/guest/bench.sh, and two
virtio-blk disks behind the SMMU: a tiny /dev/vda for the init's own
checks and the 256 MiB benchmark disk.  Per boot it records:

  boot_s      boot-to-shell: from starting QEMU (host clock) to the moment
              the host reads the init's first marker line ("@@ kernel",
              written as soon as PID 1 has mounted /proc, /sys and /dev)
              on the serial console.  Firmware-less direct kernel boot, so
              this is QEMU's setup, the kernel's boot and the initramfs
              unpacking up to the first shell command.
  read_s      cold sequential read of the whole benchmark disk (256 MiB) with
              O_DIRECT at 4 KiB and 64 KiB: the difference of the guest
              kernel's timestamps on the markers around each dd.

Configurations run interleaved (one round = one boot of each), median
over the rounds; a round that would end past --budget is not started.
Before every boot the disk images are read on the host, so QEMU always
finds them in the host page cache.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

MARK = re.compile(r"^(?:\[\s*([0-9.]+)\] )?@@ (\S+) ?(.*)$")


def warm_host_cache(path):
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


def boot(binary, kernel, initrd, smmu, small, disk, log, timeout):
    """One boot; returns {boot_s, boot_guest_s, read_4096_s, read_65536_s}."""
    args = [binary, "-M", "virt" + (",iommu=smmuv3" if smmu is not None else ""),
            "-cpu", "max,pauth-impdef=on", "-smp", "2", "-m", "1G",
            "-nographic", "-nic", "none", "-no-reboot",
            "-kernel", kernel, "-initrd", initrd,
            "-append", "console=ttyAMA0 panic=-1 printk.devkmsg=on "
                       "pasidtest=bench bench_mib=%d"
                       % (os.path.getsize(disk) >> 20)]
    if smmu:
        args += ["-global", "arm-smmuv3.ssidsize=%d" % smmu]
    for i, (img, addr) in enumerate(((small, "03.0"), (disk, "04.0"))):
        args += ["-drive", "file=%s,if=none,format=raw,id=disk%d,readonly=on"
                 % (img, i),
                 "-device", "virtio-blk-pci,drive=disk%d,addr=%s,"
                 "disable-legacy=on,iommu_platform=on" % (i, addr)]
    warm_host_cache(small)
    warm_host_cache(disk)
    res = {}
    marks = {}
    with open(log, "w") as logf:
        logf.write(" ".join(args) + "\n")
        t0 = time.monotonic()
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=logf)
        deadline = t0 + timeout
        try:
            for raw in p.stdout:
                now = time.monotonic()
                line = raw.decode(errors="replace").rstrip("\r\n")
                logf.write("%9.3f %s\n" % (now - t0, line))
                m = MARK.match(line)
                if m:
                    ts, name, rest = m.groups()
                    if name == "kernel" and "boot_s" not in res:
                        res["boot_s"] = now - t0
                        res["boot_guest_s"] = float(ts) if ts else None
                    if name in ("bench_start", "bench_end") and ts:
                        marks[(name, rest.split()[0])] = (float(ts), rest)
                    if name == "bench_disk" and rest == "none":
                        raise RuntimeError("no benchmark disk in the guest")
                if now > deadline:
                    raise RuntimeError("timeout")
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    for bs in ("4096", "65536"):
        start, end = marks.get(("bench_start", bs)), marks.get(("bench_end", bs))
        if not start or not end:
            raise RuntimeError("no read of %s-byte blocks (see %s)" % (bs, log))
        if "records in" not in end[1]:
            raise RuntimeError("dd failed: %s" % end[1])
        res["read_%s_s" % bs] = end[0] - start[0]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patched", required=True)
    ap.add_argument("--unpatched", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--disk", required=True)
    ap.add_argument("--small", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--budget", type=int, default=420,
                    help="seconds: start no round that would end later")
    ap.add_argument("--configs", default="all",
                    help="'all', or indexes into the list, e.g. 2")
    args = ap.parse_args()

    # (build, configuration label, binary, smmu: None or ssidsize)
    configs = [("patched", "no IOMMU", args.patched, None),
               ("patched", "SMMU ssidsize=0", args.patched, 0),
               ("patched", "SMMU ssidsize=20", args.patched, 20),
               ("unpatched", "no IOMMU", args.unpatched, None),
               ("unpatched", "SMMU (10.2.2)", args.unpatched, 0)]
    if args.configs != "all":
        configs = [configs[int(i)] for i in args.configs.split(",")]
    os.makedirs(args.work, exist_ok=True)
    results = {c[:2]: [] for c in configs}
    t0 = time.time()
    print("== guest: %d configurations x %d boots (at most %d s)" % (
        len(configs), args.runs, args.budget), flush=True)
    for run in range(args.runs):
        # 'make bench' has a time budget: no round that would overrun it
        # (one round of all configurations always runs)
        took = time.time() - t0
        if run and took + took / run > args.budget:
            print("   %d round(s): another would pass the %d s budget" % (
                run, args.budget), flush=True)
            break
        for build, label, binary, smmu in configs:
            log = os.path.join(args.work, "guest-%s-%s-%d.log" % (
                build, re.sub(r"[^a-z0-9]+", "-", label.lower()), run))
            r = boot(binary, args.kernel, args.initrd, smmu, args.small,
                     args.disk, log, args.timeout)
            results[(build, label)].append(r)
            print("   %-9s %-17s boot %.2f s, read 4 KiB %.2f s, 64 KiB %.2f s"
                  % (build, label, r["boot_s"], r["read_4096_s"],
                     r["read_65536_s"]), flush=True)
    records = []
    for (build, label), rs in results.items():
        rec = {"section": "guest", "build": build, "config": label,
               "runs": len(rs)}
        for k in ("boot_s", "boot_guest_s", "read_4096_s", "read_65536_s"):
            vals = [r[k] for r in rs if r.get(k) is not None]
            if vals:
                rec[k] = round(statistics.median(vals), 3)
                rec[k + "_all"] = [round(v, 3) for v in vals]
        records.append(rec)
    with open(os.path.join(args.out, "guest.json"), "w") as f:
        json.dump(records, f, indent=1)
    print("== guest part done in %.0f s" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    sys.exit(main())
