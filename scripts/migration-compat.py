#!/usr/bin/python3
"""Migration compatibility with unpatched QEMU 10.2.2, through QEMU's own
python/qemu package; migration-compat.sh prepares what it needs and counts
the "PASS|FAIL CASE detail" lines printed here.  With ssidsize=0 the
patched SMMUv3 sends 10.2.2's state; with ssidsize=20 it adds 'smmuv3/ssid',
which only a patched destination with ssidsize=20 loads.  Cases:
  vmstate       vmstate-static-checker.py over both binaries' -dump-vmstate
  p0-u u-p0 p20-p20  (p: patched with that ssidsize, u: unpatched) boot the
                guest with our init in hold mode (pasidtest=loop: it hashes
                the virtio-blk disk behind the SMMU once a second, "@@ tick N
                sha256=... smmu_events=K"), stop it, save it to a file, load
                that into the destination: two more good ticks
  layout        p0-u's and u-p0's streams describe the same devices
  p20-p0 p20-u  p20-p20's stream must be refused
"""

import argparse
import hashlib
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

from qemu.machine import QEMUMachine
from qemu.machine.machine import AbnormalShutdown

TICK = re.compile(r'^(?:\[[ 0-9.]*\] )?@@ tick (\d+) sha256=(\w+) '
                  r'smmu_events=(\d+)\r?$', re.M)
# The device the series adds.  What vmstate-static-checker.py reports from
# patched to unpatched, by design: that device is new, and the SMMUv3 sends
# 'smmuv3/ssid' only with ssidsize != 0 (which p20-u shows an unpatched QEMU
# refuses).
NEW_DEVICE = 'pcie-pasid-testdev'
PATCHED_ONLY = [
    f'Section "{NEW_DEVICE}" does not exist in dest',
    'Section "arm-smmuv3", Description "smmuv3": '
    'Subsection "smmuv3/ssid" not found',
]
opt = argparse.Namespace()


class Failed(Exception):
    """A case failed: why (args[0]), and the logs that show it."""


class Guest(QEMUMachine):
    """One QEMU of a case, KIND "patched:SSIDSIZE" or "unpatched": the
    console in OUT/NAME.serial, QEMU's own output (the SMMU's complaints
    and events) in OUT/NAME.log."""

    def __init__(self, name, kind):
        patched = kind.startswith('patched:')
        super().__init__(opt.patched if patched else opt.unpatched,
                         name=name, log_dir=opt.out)
        self.serial, self.log = (f'{opt.out}/{name}.{x}' for x in ('serial', 'log'))
        self.add_args(
            '-M', 'virt,iommu=smmuv3', '-cpu', 'max,pauth-impdef=on', '-m', '1G',
            '-nic', 'none', '-no-reboot', '-kernel', opt.kernel,
            '-initrd', opt.initrd, '-append',
            'console=ttyAMA0 panic=-1 printk.devkmsg=on pasidtest=loop',
            '-drive', f'file={opt.disk},if=none,format=raw,id=disk0,readonly=on',
            '-device', 'virtio-blk-pci,drive=disk0,addr=03.0,'
            'disable-legacy=on,iommu_platform=on',
            '-d', 'guest_errors,trace:smmuv3_record_event',
            '-serial', f'file:{self.serial}')
        if patched:
            self.add_args('-global', 'arm-smmuv3.ssidsize=' + kind.split(':')[1])

    def __exit__(self, *exc):
        try:
            self.shutdown()
        except AbnormalShutdown:
            pass    # it would not quit (or had ended): killed

    def ticks(self):
        """The init's ticks so far: (N, sha256, SMMU events)."""
        with open(self.serial, errors='replace') as f:
            return [(int(n), sha, int(ev)) for n, sha, ev in TICK.findall(f.read())]

    def poll(self, what, done):
        """Until done(); Failed if QEMU exits or the timeout passes."""
        deadline = time.monotonic() + opt.timeout
        while not done():
            if not self.is_running() or time.monotonic() > deadline:
                raise Failed(f'no {what} within {opt.timeout}s'
                             f"{'' if self.is_running() else ': QEMU exited'}",
                             self.serial, self.log)
            time.sleep(0.3)

    def wait_ticks(self, n):
        self.poll(f'tick {n}', lambda: self.ticks() and self.ticks()[-1][0] >= n)

    def migrated(self):
        st = self.cmd('query-migrate')
        if st.get('status') in ('failed', 'cancelled'):
            raise Failed(f"migration {st['status']}: {st.get('error-desc')}",
                         self.log)
        return st.get('status') == 'completed'

    def load(self, state):
        """Start with -incoming defer and load STATE; exit-on-error off,
        so that QEMU stays to tell why a load failed."""
        self.add_args('-S', '-incoming', 'defer')
        self.launch()
        self.cmd('migrate-incoming', uri=f'file:{state}', exit_on_error=False)
        self.poll('end of the migration', self.migrated)

    def check_ticks(self, side):
        """Every tick with the disk's hash, no SMMU event or complaint."""
        bad = [t for t in self.ticks() if t[1:] != (opt.disk_sha, 0)]
        if bad:
            raise Failed(f'{side}: bad tick {bad[0]}, want sha256='
                         f'{opt.disk_sha[:16]}… and 0 events', self.serial)
        with open(self.log, errors='replace') as f:
            smmu = [line.strip() for line in f if 'smmu' in line.lower()]
        if smmu:
            raise Failed(f'{side} stderr: {smmu[0]}', self.log)


def state_of(case):
    return f'{opt.out}/{case}.state'


def migrate(case, src, dst, want_ssid):
    """SRC ticks twice, is stopped and saved; DST loads the state and the
    same guest carries on."""
    t0 = time.monotonic()
    with Guest(f'{case}-src', src) as vm:
        vm.launch()
        vm.wait_ticks(2)
        vm.cmd('stop')
        last = vm.ticks()[-1][0]
        vm.cmd('migrate', uri=f'file:{state_of(case)}')
        vm.poll('end of the migration', vm.migrated)
    vm.check_ticks('source')
    with open(state_of(case), 'rb') as f:
        has_ssid = b'smmuv3/ssid' in f.read()
    if has_ssid != want_ssid:
        raise Failed(f"stream {'has' if has_ssid else 'lacks'} 'smmuv3/ssid'")
    t1 = time.monotonic()
    with Guest(f'{case}-dst', dst) as vm:
        vm.load(state_of(case))
        vm.cmd('cont')
        vm.wait_ticks(last + 2)
    ticks = vm.ticks()
    if ticks[0][0] != last + 1:
        raise Failed(f'destination: ticks resumed at {ticks[0][0]} (a new '
                     f'boot?), source stopped after {last}', vm.serial)
    vm.check_ticks('destination')
    return (f"{src} -> {dst}: saved {os.path.getsize(state_of(case)) >> 20} "
            f"MiB after tick {last}, {len(ticks)} ticks after resume, "
            f"sha256 ok, 0 SMMU events; stream {'has' if want_ssid else 'has no'}"
            f" smmuv3/ssid (save {t1 - t0:.0f} s, load+run "
            f"{time.monotonic() - t1:.0f} s)")


def vmdesc(path):
    """The device description QEMU appends to a stream: 0x06
    (QEMU_VM_VMDESCRIPTION), a big-endian 32-bit length, then JSON."""
    with open(path, 'rb') as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - (1 << 20)))
        tail = f.read()
    k = tail.rfind(b'"page_size"')
    while k > 0:
        k = tail.rfind(b'{', 0, k)
        if k >= 5 and tail[k - 5] == 6 and \
                k + int.from_bytes(tail[k - 4:k], 'big') == len(tail):
            return json.loads(tail[k:])['devices']
    raise Failed(f'no device description at the end of {path}')


def layout():
    """The ssidsize=0 streams of the patched and the unpatched QEMU
    describe the same devices with the same fields: what the static
    checker compares is declared, this is what was sent."""
    a, b = (vmdesc(state_of(case)) for case in ('p0-u', 'u-p0'))
    if a != b:
        diff = sorted({d['name'] for d in a if d not in b} |
                      {d['name'] for d in b if d not in a})
        raise Failed('device sections that differ: ' +
                     (' '.join(diff) or '(order only)'))
    return f'p0-u = u-p0: {len(a)} device sections, same fields and subsections'


def refuse(case, dst, want):
    """p20-p20's stream loaded into DST must fail, saying WANT."""
    with Guest(f'{case}-dst', dst) as vm:
        try:
            vm.load(state_of('p20-p20'))
        except Failed as e:
            why = e.args[0]
        else:
            raise Failed('destination loaded it', vm.log)
    with open(vm.log, errors='replace') as f:
        said = [line.strip() for line in [why] + f.readlines() if want in line]
    if not said:
        raise Failed(f"refused, but not with '{want}': {why}", vm.log)
    return f"p20-p20 stream -> {dst}: refused, '{said[0]}'"


def vmstate():
    """vmstate-static-checker.py: nothing from unpatched to patched, only
    PATCHED_ONLY from patched to unpatched - beyond what it says of a
    binary against itself (10.2.2's sd-card has two subsections of one
    name, which the checker, matching them by name, compares crosswise).
    The unpatched build has the virt machine's devices only (build-lib.sh
    virt_devices_args), so the patched dump is compared on those devices
    and NEW_DEVICE: every device the series changes is among them."""
    def checker(src, dst):
        return subprocess.run([sys.executable, opt.checker, '-s', src, '-d', dst],
                              capture_output=True, text=True, timeout=60,
                              check=False).stdout.splitlines()
    dump = {k: f'{opt.out}/{k}.vmstate.json' for k in ('patched', 'unpatched')}
    for kind in dump:
        subprocess.run([getattr(opt, kind), '-M', 'virt,iommu=smmuv3',
                        '-dump-vmstate', dump[kind]], check=True, timeout=60)
    sections = {k: json.loads(pathlib.Path(dump[k]).read_text()) for k in dump}
    if 'arm-smmuv3' not in sections['unpatched']:
        raise Failed('no arm-smmuv3 in the unpatched dump: nothing compared')
    with open(dump['patched'], 'w') as f:
        json.dump({name: section for name, section in sections['patched'].items()
                   if name in sections['unpatched'] or name == NEW_DEVICE}, f)
    said = {}
    for src, dst in (('unpatched', 'patched'), ('patched', 'unpatched')):
        noise = checker(dump[src], dump[src])
        said[src] = [s for s in checker(dump[src], dump[dst]) if s not in noise]
    odd = said['unpatched'] + [s for s in said['patched'] if s not in PATCHED_ONLY]
    if odd or len(said['patched']) != len(PATCHED_ONLY):
        raise Failed('vmstate-static-checker.py: ' + '; '.join(odd or said['patched']))
    return ('unpatched -> patched: nothing; patched -> unpatched: only '
            + '; '.join(PATCHED_ONLY))


CASES = {
    'vmstate': vmstate,
    'p0-u': lambda: migrate('p0-u', 'patched:0', 'unpatched', False),
    'u-p0': lambda: migrate('u-p0', 'unpatched', 'patched:0', False),
    'layout': layout,
    'p20-p20': lambda: migrate('p20-p20', 'patched:20', 'patched:20', True),
    'p20-p0': lambda: refuse('p20-p0', 'patched:0',
                             'ssidsize=20 on the source, 0 here'),
    'p20-u': lambda: refuse('p20-u', 'unpatched', "VM subsection "
                            "'smmuv3/ssid' in 'smmuv3' does not exist"),
}
# The streams a case loads, which other cases save
NEEDS = {'layout': ['p0-u', 'u-p0'], 'p20-p0': ['p20-p20'], 'p20-u': ['p20-p20']}


def run(case):
    """One case: its verdict line, and if it failed the logs to show."""
    start = time.monotonic()
    try:
        print(f'PASS {case} {CASES[case]()}', flush=True)
        return
    except Failed as e:
        why, logs = e.args[0], e.args[1:]
    except Exception as e:      # pylint: disable=broad-except
        why, logs = f'{type(e).__name__}: {e}', ()
    print(f'FAIL {case} {why} ({time.monotonic() - start:.0f} s)')
    print(''.join(f'LOG {log}\n' for log in logs), end='', flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    for name in ('patched', 'unpatched', 'kernel', 'initrd', 'disk', 'out', 'checker'):
        ap.add_argument('--' + name, required=True)
    ap.add_argument('--timeout', type=int, default=300)
    ap.add_argument('cases', nargs='*', default=list(CASES), help=' '.join(CASES))
    ap.parse_args(namespace=opt)
    if set(opt.cases) - set(CASES):
        ap.error('cases: ' + ' '.join(CASES))
    with open(opt.disk, 'rb') as f:
        opt.disk_sha = hashlib.sha256(f.read()).hexdigest()
    opt.cases += [n for case in opt.cases for n in NEEDS.get(case, [])]
    # A TERM (a timeout) ends the QEMUs too, through the 'with' blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for case in CASES:
        if case in opt.cases:
            run(case)


if __name__ == '__main__':
    main()
