/*
 * sva-test: shared virtual addressing end to end, run inside the guest
 * (static arm64) through tests/guest/sva/pasid_sva.ko (/dev/pasid-sva):
 * the test device DMAs to a process's own virtual addresses, with the
 * PASID Linux bound to that process, translated by the SMMU through the
 * process's page tables.
 *
 *  1. Two processes, a (the parent) and b (its child), share virtual
 *     addresses: the buffers are mapped before the fork and each process
 *     then touches and mlocks its own copy.  Each opens the device (a
 *     bond: its own PASID), has the device fill a buffer (three pages from
 *     an unaligned start), copy it to another buffer and read it back:
 *     each sees exactly its data, and neither's buffers change when the
 *     other's DMA runs at the same addresses.
 *  2. a maps a page, DMAs to it, unmaps it: the DMA to its old address is
 *     refused (Linux invalidated the SMMU's TLB for that address).
 *  3. a page never touched: refused (no I/O page faults), no hang.
 *  4. bad input: a kernel address, an address never mapped (refused by the
 *     device), lengths and an operation the driver refuses (EINVAL).
 *  5. b exits while bound: a DMA tagged with b's PASID is then refused.
 *
 * Output: "bound NAME pasid=0x.. pgd=0x..", "munmap va=0x.. pasid=0x..",
 * "gone pasid=0x.." lines for tests/guest/sva.sh's markers; checks are
 * "check PASS|FAIL <name> <detail>"; the last line is "result pass",
 * "result fail" or, when Linux refused to bind at all (not this program's
 * failure: e.g. the SMMU's OAS is below the CPU's PARange),
 * "result refused <errno name>".
 *
 * Usage: sva-test
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hw/misc/pcie-pasid-testdev.h"
#include "sva/pasid_sva.h"

#define DEVICE      "/dev/pasid-sva"
#define FILL        0xa5
#define BUF_PAGES   4

static int failures;
static const char *me = "a";        /* the process: a or b */
static size_t page, buf_size;

/* One whole line, so that the two processes' lines never mix */
static void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n > (int)sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    if (write(STDOUT_FILENO, line, n) != n) {
        exit(2);
    }
}

static void check(int ok, const char *what, const char *detail)
{
    say("check %s %s-%s %s", ok ? "PASS" : "FAIL", me, what, detail);
    failures += !ok;
}

static void die(const char *what)
{
    say("check FAIL %s-%s %s", me, what, strerror(errno));
    say("result fail");
    exit(1);
}

/*
 * One transfer tagged with the bond's PASID (or @pasid, if not ~0).
 * Returns 0 or the errno; *status gets the device's STATUS.
 */
static int dma_tagged(int fd, uint32_t op, const void *src, void *dst,
                      uint32_t len, uint32_t pattern, uint32_t pasid,
                      uint32_t *status)
{
    struct pasid_sva_dma r = {
        .src = (uintptr_t)src, .dst = (uintptr_t)dst, .len = len, .op = op,
        .pattern = pattern,
        .flags = pasid == ~0u ? 0 : PASID_SVA_DMA_PASID, .pasid = pasid,
    };
    int err = ioctl(fd, PASID_SVA_IOC_DMA, &r) ? errno : 0;

    *status = r.status;
    return err;
}

static int dma(int fd, uint32_t op, const void *src, void *dst, uint32_t len,
               uint32_t pattern, uint32_t *status)
{
    return dma_tagged(fd, op, src, dst, len, pattern, ~0u, status);
}

/* @buf holds the words @pattern, @pattern + 1, ... at [off, off + len), FILL
 * elsewhere */
static int holds_pattern(const uint8_t *buf, size_t off, uint32_t len,
                         uint32_t pattern)
{
    size_t i;

    for (i = 0; i < buf_size; i++) {
        if ((i < off || i >= off + len) && buf[i] != FILL) {
            return 0;
        }
    }
    for (i = 0; i < len / 4; i++) {
        uint32_t w;

        memcpy(&w, buf + off + i * 4, 4);
        if (w != pattern + i) {
            return 0;
        }
    }
    return 1;
}

static int all_fill(const uint8_t *buf)
{
    size_t i;

    for (i = 0; i < buf_size; i++) {
        if (buf[i] != FILL) {
            return 0;
        }
    }
    return 1;
}

/* A refused transfer: @err is EIO and STATUS says ERROR with @cause */
static void expect_refused(const char *what, int err, uint32_t status,
                           uint32_t cause)
{
    char detail[128];

    snprintf(detail, sizeof(detail), "errno=%d status=0x%x (cause %u)",
             err, status, FIELD_EX32(status, STATUS, CAUSE));
    check(err == EIO && (status & R_STATUS_ERROR_MASK) &&
          FIELD_EX32(status, STATUS, CAUSE) == cause, what, detail);
}

static void expect_einval(const char *what, int err)
{
    char detail[64];

    snprintf(detail, sizeof(detail), "errno=%d", err);
    check(err == EINVAL, what, detail);
}

/* Open the device: a bond of this process's address space */
static int bind_me(uint32_t *pasid)
{
    struct pasid_sva_info info;
    int fd = open(DEVICE, O_RDWR), err = errno;

    if (fd < 0) {
        if (err == ENOENT || err == ENXIO || err == ENODEV) {
            die("open");
        }
        say("bind %s refused: %s", me, strerror(err));
        if (strcmp(me, "a") == 0) {
            while (wait(NULL) > 0) {
                /* b is refused the same way: one verdict, after it */
            }
            say("result refused %s", strerrorname_np(err));
        }
        exit(0);
    }
    if (ioctl(fd, PASID_SVA_IOC_INFO, &info)) {
        die("info");
    }
    say("bound %s pasid=0x%x pgd=0x%llx", me, info.pasid,
        (unsigned long long)info.pgd_phys);
    *pasid = info.pasid;
    return fd;
}

/* Fill @buf at an unaligned offset across three pages, copy it to @copy,
 * read it back: each lands exactly, and the checksum is the data's. */
static void own_data(int fd, uint8_t *buf, uint8_t *copy, uint32_t pattern)
{
    size_t off = page / 2;
    uint32_t len = 2 * page, status, sum = 0;
    struct pasid_sva_dma r = {
        .src = (uintptr_t)(copy + off / 2), .len = len,
        .op = PASID_TESTDEV_OP_READ,
    };
    char detail[128];
    int err;
    size_t i;

    err = dma(fd, PASID_TESTDEV_OP_WRITE, NULL, buf + off, len, pattern,
              &status);
    snprintf(detail, sizeof(detail), "errno=%d status=0x%x", err, status);
    check(!err && holds_pattern(buf, off, len, pattern), "fill", detail);

    err = dma(fd, PASID_TESTDEV_OP_COPY, buf + off, copy + off / 2, len, 0,
              &status);
    snprintf(detail, sizeof(detail), "errno=%d status=0x%x", err, status);
    check(!err && holds_pattern(copy, off / 2, len, pattern), "copy",
          detail);

    err = ioctl(fd, PASID_SVA_IOC_DMA, &r) ? errno : 0;
    for (i = 0; i < len; i++) {
        sum += copy[off / 2 + i];
    }
    snprintf(detail, sizeof(detail), "errno=%d checksum=0x%x expected=0x%x",
             err, r.checksum, sum);
    check(!err && r.checksum == sum, "read", detail);
}

/*
 * b: bind, tell a its PASID, wait for a's DMA, check that its own buffers
 * did not change, do its own, tell a; then wait for a's word to exit,
 * still bound.
 */
static void run_b(uint8_t *buf, uint8_t *copy, int to_a, int from_a)
{
    uint32_t pasid;
    int fd;
    char c;

    me = "b";
    fd = bind_me(&pasid);
    if (write(to_a, &pasid, sizeof(pasid)) != sizeof(pasid) ||
        read(from_a, &c, 1) != 1) {
        die("pipe");
    }
    check(all_fill(buf) && all_fill(copy), "untouched-by-a",
          "a's DMA to the same addresses left b's buffers alone");
    own_data(fd, buf, copy, 0xb0000000);
    if (write(to_a, &c, 1) != 1 || read(from_a, &c, 1) != 1) {
        die("pipe");
    }
    exit(failures ? 1 : 0);     /* the file is still open: exit unbinds */
}

static void unmapped_after_munmap(int fd, uint32_t pasid)
{
    uint8_t *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t status;
    char detail[128];
    int err;

    if (p == MAP_FAILED) {
        die("mmap");
    }
    memset(p, FILL, page);
    err = dma(fd, PASID_TESTDEV_OP_WRITE, NULL, p, 256, 0xc0000000, &status);
    snprintf(detail, sizeof(detail), "errno=%d status=0x%x", err, status);
    check(!err && p[0] == 0x00 && p[3] == 0xc0 && p[256] == FILL,
          "before-munmap", detail);
    say("munmap va=0x%lx pasid=0x%x", (unsigned long)p, pasid);
    munmap(p, page);
    err = dma(fd, PASID_TESTDEV_OP_WRITE, NULL, p, 256, 0xc1000000, &status);
    expect_refused("after-munmap", err, status,
                   PASID_TESTDEV_CAUSE_WRITE_FAULT);
}

static void never_touched(int fd)
{
    uint8_t *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t status;
    int err;

    if (p == MAP_FAILED) {
        die("mmap");
    }
    err = dma(fd, PASID_TESTDEV_OP_WRITE, NULL, p, 256, 0xd0000000, &status);
    expect_refused("untouched-write", err, status,
                   PASID_TESTDEV_CAUSE_WRITE_FAULT);
    err = dma(fd, PASID_TESTDEV_OP_READ, p, NULL, 256, 0, &status);
    expect_refused("untouched-read", err, status,
                   PASID_TESTDEV_CAUSE_READ_FAULT);
    munmap(p, page);
}

static void bad_input(int fd, uint8_t *buf)
{
    uint32_t status;
    int err;

    /* The kernel's half: TTB1 is disabled in an SVA CD (EPD1) */
    err = dma(fd, PASID_TESTDEV_OP_READ, (void *)0xffff800080000000ull, NULL,
              256, 0, &status);
    expect_refused("kernel-address", err, status,
                   PASID_TESTDEV_CAUSE_READ_FAULT);
    /* Page 1 of the address space is never mapped */
    err = dma(fd, PASID_TESTDEV_OP_WRITE, NULL, (void *)(uintptr_t)page, 256,
              0, &status);
    expect_refused("never-mapped", err, status,
                   PASID_TESTDEV_CAUSE_WRITE_FAULT);
    expect_einval("len-above-max", dma(fd, PASID_TESTDEV_OP_WRITE, NULL, buf,
                                       PASID_TESTDEV_MAX_LEN + 4, 0, &status));
    expect_einval("len-0", dma(fd, PASID_TESTDEV_OP_WRITE, NULL, buf, 0, 0,
                               &status));
    expect_einval("len-unaligned", dma(fd, PASID_TESTDEV_OP_WRITE, NULL, buf,
                                       6, 0, &status));
    expect_einval("bad-op", dma(fd, 3, NULL, buf, 4, 0, &status));
    check(all_fill(buf), "bad-input-left-buffer", "nothing written");
}

int main(void)
{
    int to_a[2], from_a[2], fd, wstatus;
    uint32_t pasid, pasid_b, status;
    uint8_t *buf, *copy, *spare;
    char c = 'g', detail[128];
    pid_t b;
    int err;

    page = sysconf(_SC_PAGESIZE);
    buf_size = BUF_PAGES * page;
    buf = mmap(NULL, buf_size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    copy = mmap(NULL, buf_size, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    spare = mmap(NULL, buf_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED || copy == MAP_FAILED || spare == MAP_FAILED ||
        pipe(to_a) || pipe(from_a)) {
        die("setup");
    }
    b = fork();
    if (b < 0) {
        die("fork");
    }
    /* Each process touches and locks its own copy of the same addresses */
    memset(buf, FILL, buf_size);
    memset(copy, FILL, buf_size);
    memset(spare, FILL, buf_size);
    if (mlock(buf, buf_size) || mlock(copy, buf_size) ||
        mlock(spare, buf_size)) {
        die("mlock");
    }
    if (b == 0) {
        /* Only the ends each process uses: a peer that dies is seen */
        close(to_a[0]);
        close(from_a[1]);
        run_b(buf, copy, to_a[1], from_a[0]);
    }
    close(to_a[1]);
    close(from_a[0]);

    fd = bind_me(&pasid);
    if (read(to_a[0], &pasid_b, sizeof(pasid_b)) != sizeof(pasid_b)) {
        die("pipe");
    }
    snprintf(detail, sizeof(detail), "a=0x%x b=0x%x", pasid, pasid_b);
    check(pasid != pasid_b, "pasids-differ", detail);
    own_data(fd, buf, copy, 0xa0000000);
    if (write(from_a[1], &c, 1) != 1 || read(to_a[0], &c, 1) != 1) {
        die("pipe");
    }
    check(holds_pattern(buf, page / 2, 2 * page, 0xa0000000) &&
          holds_pattern(copy, page / 4, 2 * page, 0xa0000000),
          "untouched-by-b", "b's DMA to the same addresses left a's alone");

    unmapped_after_munmap(fd, pasid);
    never_touched(fd);
    bad_input(fd, spare);

    /* b exits with its file open: Linux unbinds its PASID */
    if (write(from_a[1], &c, 1) != 1 || waitpid(b, &wstatus, 0) != b) {
        die("wait");
    }
    check(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "b-exit",
          "b's checks passed and it exited");
    say("gone pasid=0x%x", pasid_b);
    err = dma_tagged(fd, PASID_TESTDEV_OP_WRITE, NULL, spare, 256, 0xe0000000,
                     pasid_b, &status);
    expect_refused("gone-pasid", err, status,
                   PASID_TESTDEV_CAUSE_WRITE_FAULT);
    check(all_fill(spare), "gone-pasid-left-buffer", "nothing written");
    /* a's own bond still works */
    own_data(fd, buf, copy, 0xa8000000);

    close(fd);
    say("result %s", failures ? "fail" : "pass");
    return failures ? 1 : 0;
}
