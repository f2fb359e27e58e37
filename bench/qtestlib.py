"""A qtest driver of the SMMUv3 and pcie-pasid-testdev for the benchmark.

QEMU runs as QEMU's own QEMUQtestMachine (python/qemu of the work tree), no
CPU: like tests/qtest/smmuv3-test.c, this writes the stream table, CDs and
stage-1 page tables (IHI 0070 layouts) into guest RAM, enables the SMMU and
programs the test device, whose doorbell runs REPEAT transfers inside
QEMU.  Registers, fields and values are read from the headers of the work
tree under their C names: the device's from
include/hw/misc/pcie-pasid-testdev.h (TD.A_CTRL, TD.R_STATUS_BUSY_MASK,
TD.PASID_TESTDEV_MAGIC...), the SMMU's from the qtests' libqos driver,
tests/qtest/libqos/smmuv3.h (SMMU.A_SMMU_CR0, SMMU.SMMU_CMD_SYNC...).
"""

import base64
import os
import re
import struct
import sys
import threading
import time
from types import SimpleNamespace

from qemupy import WORK_TREE, QEMUQtestMachine


def read_header(path, prefix):
    """The constants of a header of the work tree (PATH relative to it),
    named as the C code names them: REG32/REG64(R, off) give A_R;
    FIELD(R, F, shift, len) R_R_F_SHIFT and R_R_F_MASK; 'PREFIXX v' (a
    #define) and 'PREFIXX = v' (an enum member) give PREFIXX when v is a
    number: defines whose value is an expression are left out."""
    try:
        with open(os.path.join(WORK_TREE, path)) as f:
            text = f.read()
    except OSError as e:
        sys.exit("bench: no %s (%s): set WORK_TREE to the QEMU work tree"
                 % (path, e))
    c = {"A_" + reg: int(off, 0)
         for reg, off in re.findall(r"REG(?:32|64)\((\w+), *(\w+)\)", text)}
    for reg, field, shift, length in re.findall(
            r"FIELD\((\w+), *(\w+), *(\d+), *(\d+)\)", text):
        c["R_%s_%s_SHIFT" % (reg, field)] = int(shift)
        c["R_%s_%s_MASK" % (reg, field)] = \
            ((1 << int(length)) - 1) << int(shift)
    c.update((name, int(val, 0)) for name, val in re.findall(
        r"\b(%s\w+)(?: +| *= *)(0x[0-9a-fA-F]+|\d+)[uUlL]*\b" % prefix, text))
    return SimpleNamespace(**c)


def fields(hdr, word, **values):
    """The value of register or descriptor WORD of header HDR with the
    FIELD()s named by VALUES set: fields(SMMU, "SMMU_CD0", V=1, ...)."""
    out = 0
    for name, v in values.items():
        shift = getattr(hdr, "R_%s_%s_SHIFT" % (word, name))
        mask = getattr(hdr, "R_%s_%s_MASK" % (word, name))
        if (v << shift) & ~mask:
            raise ValueError("%s.%s: 0x%x does not fit" % (word, name, v))
        out |= v << shift
    return out


TD = read_header("include/hw/misc/pcie-pasid-testdev.h", "PASID_TESTDEV_")
SMMU = read_header("tests/qtest/libqos/smmuv3.h", "SMMU_")
# One launch at a time: a QEMU started while another machine's socket for
# its QEMU is still open in this process would inherit it.
LAUNCH = threading.Lock()
TD_OPS = {"read": TD.PASID_TESTDEV_OP_READ, "write": TD.PASID_TESTDEV_OP_WRITE}
TD_PCI_ID = 0x00151b36          # 1b36:0015

# virt machine with highmem=off (the addresses smmuv3-test uses)
SMMU_BASE, ECAM_BASE, PCI_MMIO = 0x09050000, 0x3f000000, 0x10000000
RAM_BASE, RAM_MB = 0x40000000, 768

# Guest RAM the benchmark uses: structures from TABLES_BASE up to
# TABLES_END, and a 4 MiB data window at DATA_BASE (IOVA == PA in every
# stage-1 mapping).
TABLES_BASE = RAM_BASE + 0x08000000
TABLES_END = DATA_BASE = RAM_BASE + 0x20000000
DATA_SIZE = 4 << 20

# The test device: bus 0, slot 3, so StreamID 0x18; BAR 0 at PCI_MMIO.
TESTDEV_DEVFN = TESTDEV_SID = 3 << 3
BAR = PCI_MMIO

# The queue sizes and the linear stream table of libqos's driver
CMDQ_LOG2SIZE = SMMU.SMMU_CMDQ_LOG2SIZE
EVTQ_LOG2SIZE = SMMU.SMMU_EVTQ_LOG2SIZE
STRTAB_LOG2SIZE = SMMU.SMMU_STRTAB_LOG2SIZE
CMDQ_LOG2SIZE_MAX = 19      # IDR1.CMDQS of QEMU's SMMUv3
T0SZ = 25                   # 39-bit input addresses, as smmuv3-test


class QtestError(RuntimeError):
    pass


def cd_bytes(ttb, granule, asid):
    """A valid AArch64 CD: TTB0 only (EPD1), 48-bit IPS, ASID."""
    tg0 = SMMU.SMMU_CD_TG0_64K if granule == 16 else SMMU.SMMU_CD_TG0_4K
    return struct.pack(
        "<2Q48x",
        fields(SMMU, "SMMU_CD0", T0SZ=T0SZ, TG0=tg0, EPD1=1, V=1,
               IPS=SMMU.SMMU_PS_48BIT, AA64=1, R=1, A=1, ASID=asid & 0xffff),
        fields(SMMU, "SMMU_CD1", TTB0=ttb >> 4))


def cmd_bytes(opcode, sid=0, leaf=0):
    """A 16-byte command: OPCODE, with a StreamID (and CFGI_STE's Leaf)."""
    return struct.pack("<2Q",
                       fields(SMMU, "SMMU_CMD0", OPCODE=opcode, SID=sid),
                       fields(SMMU, "SMMU_CMD1", LEAF=leaf))


def pte(addr, **more):
    """A valid table or page descriptor (TABLE set) pointing at ADDR."""
    return fields(SMMU, "SMMU_PTE", V=1, TABLE=1, OA=addr >> 12, **more)


class Machine:
    """A virt machine with the test device, under qtest; its output goes to
    LOG when it is closed.

    smmu: None (no IOMMU), or the SMMUv3's ssidsize (0 = no SubstreamIDs).
    wrapper: a command QEMU runs under (valgrind).  testdevs: (devfn, BAR
    address) of more test devices on bus 0, besides the one at 00:03.0
    with its BAR at BAR.
    """

    def __init__(self, binary, log, smmu=None, wrapper=(), extra=(),
                 testdevs=()):
        args = ["-M", "virt,highmem=off" +
                (",iommu=smmuv3" if smmu is not None else ""),
                "-m", str(RAM_MB), "-qtest-log", "none", "-audio", "none",
                "-serial", "none", "-monitor", "none", "-nic", "none",
                "-run-with", "exit-with-parent=on"]
        testdevs = ((TESTDEV_DEVFN, BAR),) + tuple(testdevs)
        for devfn, _ in testdevs:
            args += ["-device", "pcie-pasid-testdev,addr=%02x.%x" % (
                devfn >> 3, devfn & 7)]
        if smmu:
            args += ["-global", "arm-smmuv3.ssidsize=%d" % smmu]
        self.log, self.smmu = log, smmu
        self.vm = QEMUQtestMachine(
            binary, args + list(extra), wrapper=wrapper,
            name=os.path.basename(log), base_temp_dir=os.path.dirname(log))
        self.vm.set_qmp_monitor(False)
        with LAUNCH:
            self.vm.launch()
        self.next_table = TABLES_BASE
        self.regs = {}
        self.testdev_reads = 0   # each one a callgrind dump, see smmubench
        try:
            for devfn, bar in testdevs:
                self.testdev_enable(devfn, bar)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the qtest protocol ----
    def cmd(self, line):
        """Send one command, return the text after "OK"."""
        resp = self.vm.qtest(line).strip()
        if not resp.startswith("OK"):
            raise QtestError("%s -> %s (see %s)" % (
                line[:60], resp or "QEMU went away", self.log))
        return resp[2:].strip()

    def writel(self, addr, val):
        self.cmd("writel 0x%x 0x%x" % (addr, val & 0xffffffff))

    def writew(self, addr, val):
        self.cmd("writew 0x%x 0x%x" % (addr, val & 0xffff))

    def writeq(self, addr, val):
        self.cmd("writeq 0x%x 0x%x" % (addr, val))

    def readl(self, addr):
        return int(self.cmd("readl 0x%x" % addr), 16)

    def memset(self, addr, size, val=0):
        self.cmd("memset 0x%x 0x%x 0x%x" % (addr, size, val))

    def write(self, addr, data, chunk=1 << 20):
        for off in range(0, len(data), chunk):
            part = bytes(data[off:off + chunk])
            self.cmd("b64write 0x%x 0x%x %s" % (
                addr + off, len(part), base64.b64encode(part).decode()))

    def status(self):
        """/proc/PID/status as a dict of ints in KiB (VmRSS, VmHWM...)."""
        out = {}
        with open("/proc/%d/status" % self.vm.get_pid()) as f:
            for line in f:
                k, _, v = line.partition(":")
                if v.strip().endswith("kB"):
                    out[k] = int(v.split()[0])
        return out

    def close(self):
        try:
            self.vm.shutdown(timeout=120)
        finally:
            with open(self.log, "w") as f:
                f.write(" ".join([self.vm.binary] + self.vm.args) + "\n" +
                        (self.vm.get_log() or ""))

    # ---- guest RAM ----
    def alloc(self, size):
        """SIZE bytes of table space, aligned to SIZE."""
        addr = -(-self.next_table // size) * size
        if addr + size > TABLES_END:
            raise QtestError("out of table space")
        self.next_table = addr + size
        return addr

    def map_data(self, granule):
        """Stage-1 tables mapping the data window IOVA == PA with pages of
        2^GRANULE bytes, read/write; returns the TTB."""
        stride = granule - 3
        start = 4 - -(-(64 - T0SZ - granule) // stride)   # ceil division
        tsize = 1 << granule
        ttb = self.alloc(tsize)
        tables = {ttb: bytearray(tsize)}
        for va in range(DATA_BASE, DATA_BASE + DATA_SIZE, tsize):
            table = ttb
            for level in range(start, 3):
                shift = granule + (3 - level) * stride
                idx = (va >> shift) & ((1 << stride) - 1)
                desc, = struct.unpack_from("<Q", tables[table], idx * 8)
                if not desc & SMMU.R_SMMU_PTE_V_MASK:
                    nxt = self.alloc(tsize)
                    tables[nxt] = bytearray(tsize)
                    desc = pte(nxt)
                    struct.pack_into("<Q", tables[table], idx * 8, desc)
                table = desc & SMMU.R_SMMU_PTE_OA_MASK & ~(tsize - 1)
            idx = (va >> granule) & ((1 << stride) - 1)
            struct.pack_into("<Q", tables[table], idx * 8, pte(
                va, AF=1, AP=SMMU.SMMU_PTE_AP_RW_ANY_EL))
        for addr, data in tables.items():
            self.write(addr, data)
        return ttb

    def one_cd(self, ttb, granule):
        """A single CD (ASID 1) for an STE without SubstreamIDs."""
        return self.store(cd_bytes(ttb, granule, 1))

    def store(self, data):
        """DATA written at a new place: its address."""
        addr = self.alloc(len(data))
        self.write(addr, data)
        return addr

    def cd_table(self, fmt, s1cdmax, ssids, ttb, granule, leaves=None):
        """A CD table with a valid CD for each SubstreamID in SSIDS (each its
        own ASID: ssid & 0xffff, so PASIDs do not share IOTLB entries).
        2-level tables get 64 KB leaves (1024 CDs), as Linux uses; with
        LEAVES, L1 descriptor i points at leaf i % LEAVES (for the hostile
        run: 2^20 SubstreamIDs without 64 MiB of CDs).  Returns its base.
        """
        if fmt == SMMU.SMMU_S1FMT_LINEAR:
            return self.cds(ssids, 0, 1 << s1cdmax, ttb, granule)
        l1_entries = 1 << (s1cdmax - 10) if s1cdmax > 10 else 1
        l1 = bytearray(max(64, 8 * l1_entries))
        base = self.alloc(len(l1))      # before the leaves
        leaf_addr = {}
        for i in sorted({s >> 10 for s in ssids}):
            li = i % (leaves or l1_entries)
            if li not in leaf_addr:
                leaf_addr[li] = self.cds(ssids, li << 10, 1024, ttb, granule)
            struct.pack_into("<Q", l1, i * 8, fields(
                SMMU, "SMMU_L1CD", V=1, L2PTR=leaf_addr[li] >> 12))
        self.write(base, l1)
        return base

    def cds(self, ssids, first, count, ttb, granule):
        """COUNT CDs from SubstreamID FIRST on, valid for those in SSIDS,
        written at a new place: their address."""
        size = SMMU.SMMU_CD_SIZE
        table = bytearray(size * count)
        for s in range(first, first + count):
            if s in ssids:
                i = (s - first) * size
                table[i:i + size] = cd_bytes(ttb, granule, s)
        return self.store(table)

    # ---- SMMU ----
    def smmu_enable(self, cmdq_log2size=CMDQ_LOG2SIZE):
        self.cmdq_log2size, self.cmdq_prod = cmdq_log2size, 0
        strtab_size = SMMU.SMMU_STE_SIZE << STRTAB_LOG2SIZE
        cmdq_size = SMMU.SMMU_CMD_SIZE << cmdq_log2size
        self.strtab = self.alloc(strtab_size)
        self.cmdq = self.alloc(cmdq_size)
        # What this client last wrote into each command queue slot
        self.cmdq_shadow = bytearray(cmdq_size)
        self.evtq = self.alloc(SMMU.SMMU_EVT_SIZE << EVTQ_LOG2SIZE)
        self.memset(self.strtab, strtab_size)
        self.memset(self.cmdq, cmdq_size)
        self.writeq(SMMU_BASE + SMMU.A_SMMU_STRTAB_BASE, self.strtab)
        self.writel(SMMU_BASE + SMMU.A_SMMU_STRTAB_BASE_CFG, fields(
            SMMU, "SMMU_STRTAB_BASE_CFG", LOG2SIZE=STRTAB_LOG2SIZE))
        # (the queue bases' LOG2SIZE is bits 4:0)
        self.writeq(SMMU_BASE + SMMU.A_SMMU_CMDQ_BASE,
                    self.cmdq | cmdq_log2size)
        self.writeq(SMMU_BASE + SMMU.A_SMMU_EVENTQ_BASE,
                    self.evtq | EVTQ_LOG2SIZE)
        for r in ("CMDQ_PROD", "CMDQ_CONS", "EVENTQ_PROD", "EVENTQ_CONS"):
            self.writel(SMMU_BASE + getattr(SMMU, "A_SMMU_" + r), 0)
        cr0 = fields(SMMU, "SMMU_CR0", SMMUEN=1, EVENTQEN=1, CMDQEN=1)
        self.writel(SMMU_BASE + SMMU.A_SMMU_CR0, cr0)
        if self.readl(SMMU_BASE + SMMU.A_SMMU_CR0ACK) != cr0:
            raise QtestError("SMMU did not enable")

    def command(self, opcode, sid=0, leaf=0):
        self.commands(cmd_bytes(opcode, sid, leaf))

    def commands(self, data):
        """Queue the 16-byte commands of DATA after PROD (not submitted).
        Only slots that do not already hold the same bytes are written, so
        a workload that queues the same commands again and again costs no
        protocol traffic once the queue went round."""
        slots = 1 << self.cmdq_log2size
        n = len(data) // 16
        if n >= slots:
            raise QtestError("%d commands do not fit the queue" % n)
        first = self.cmdq_prod % slots
        wrap = (slots - first) * 16         # what fits before the end
        for off, part in ((first * 16, data[:wrap]), (0, data[wrap:])):
            old = self.cmdq_shadow[off:off + len(part)]
            if old != part:
                # write from the first to the last slot that differs
                lo = next(i for i in range(0, len(part), 16)
                          if old[i:i + 16] != part[i:i + 16])
                hi = next(i for i in range(len(part) - 16, -1, -16)
                          if old[i:i + 16] != part[i:i + 16]) + 16
                self.write(self.cmdq + off + lo, part[lo:hi])
                self.cmdq_shadow[off + lo:off + hi] = part[lo:hi]
        self.cmdq_prod = (self.cmdq_prod + n) % (2 * slots)

    def submit(self, data=b""):
        """Queue DATA's commands, write CMDQ_PROD (the SMMU runs the queued
        commands before the write completes); return the write's wall time
        in ns, after checking that every command was consumed without
        error."""
        self.commands(data)
        t0 = time.perf_counter_ns()
        self.writel(SMMU_BASE + SMMU.A_SMMU_CMDQ_PROD, self.cmdq_prod)
        t1 = time.perf_counter_ns()
        # (CONS.ERR set: a command was refused, CONS stopped before it)
        cons = self.readl(SMMU_BASE + SMMU.A_SMMU_CMDQ_CONS)
        if cons != self.cmdq_prod:
            raise QtestError("commands not consumed: CMDQ_CONS 0x%x "
                             "(ERR %d), PROD 0x%x" % (
                                 cons, (cons & SMMU.R_SMMU_CMDQ_CONS_ERR_MASK)
                                 >> SMMU.R_SMMU_CMDQ_CONS_ERR_SHIFT,
                                 self.cmdq_prod))
        if self.readl(SMMU_BASE + SMMU.A_SMMU_GERROR):
            raise QtestError("SMMU GERROR set")
        return t1 - t0

    def ste(self, config, ctxptr=0, s1fmt=0, s1cdmax=0, s1dss=0,
            sid=TESTDEV_SID):
        ste = struct.pack(
            "<2Q48x",
            fields(SMMU, "SMMU_STE0", V=1, CONFIG=config, S1FMT=s1fmt,
                   S1CTXPTR=ctxptr >> 6, S1CDMAX=s1cdmax),
            fields(SMMU, "SMMU_STE1", S1DSS=s1dss))
        self.write(self.strtab + sid * SMMU.SMMU_STE_SIZE, ste)
        self.command(SMMU.SMMU_CMD_CFGI_STE, sid, leaf=1)
        self.command(SMMU.SMMU_CMD_CFGI_CD_ALL, sid)
        self.command(SMMU.SMMU_CMD_TLBI_NSNH_ALL)
        self.command(SMMU.SMMU_CMD_SYNC)
        self.submit()

    def events(self):
        """How many event records are pending (there should be none)."""
        if self.smmu is None:
            return 0
        prod = self.readl(SMMU_BASE + SMMU.A_SMMU_EVENTQ_PROD)
        cons = self.readl(SMMU_BASE + SMMU.A_SMMU_EVENTQ_CONS)
        mask = (2 << EVTQ_LOG2SIZE) - 1
        return ((prod & mask) - (cons & mask)) & mask

    # ---- the test device ----
    def testdev_read(self, bar, reg):
        self.testdev_reads += 1
        return self.readl(bar + reg)

    def testdev_enable(self, devfn, bar):
        """The device: BAR 0, memory space + bus master, PASID enabled.
        Reads its ID register once."""
        ecam = ECAM_BASE + (devfn << 12)
        if self.readl(ecam) != TD_PCI_ID:
            raise QtestError("no pcie-pasid-testdev at 00:%02x.%x" % (
                devfn >> 3, devfn & 7))
        self.writel(ecam + 0x10, bar)
        self.writew(ecam + 0x04, 0x6)
        self.writew(ecam + TD.PASID_TESTDEV_PASID_CAP + 6, 1)
        if self.testdev_read(bar, TD.A_ID) != TD.PASID_TESTDEV_MAGIC:
            raise QtestError("test device BAR not mapped")

    def doorbell(self, op, length, repeat, tagged=False, pasid=0,
                 pasid_cnt=0, addr=DATA_BASE, bar=BAR):
        """REPEAT transfers by the test device whose BAR 0 is at BAR: set
        the DMA registers that changed since its last doorbell, ring it and
        poll STATUS until the device is no longer busy (it runs the
        transfers in the background, between iterations of QEMU's main
        loop).  Returns the wall time in ns from the doorbell to the read
        that saw DONE (round trips included), after checking the run did
        not fail."""
        ctrl = fields(TD, "CTRL", OP=TD_OPS[op], PASID_VALID=int(tagged))
        want = {TD.A_SRC_LO: addr, TD.A_DST_LO: addr, TD.A_LEN: length,
                TD.A_REPEAT: repeat, TD.A_PASID: pasid,
                TD.A_PASID_CNT: pasid_cnt, TD.A_CTRL: ctrl,
                TD.A_PATTERN: 0x5a000000}
        for reg, val in want.items():
            if self.regs.get((bar, reg)) != val:
                self.writel(bar + reg, val)
                self.regs[(bar, reg)] = val
        t0 = time.perf_counter_ns()
        self.writel(bar + TD.A_DOORBELL, 1)
        status = TD.R_STATUS_BUSY_MASK
        while status & TD.R_STATUS_BUSY_MASK:
            status = self.testdev_read(bar, TD.A_STATUS)
        t1 = time.perf_counter_ns()
        if status != TD.R_STATUS_DONE_MASK:
            raise QtestError("transfer failed: STATUS 0x%x FAILED %d" % (
                status, self.testdev_read(bar, TD.A_FAILED)))
        return t1 - t0
