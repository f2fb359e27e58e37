/*
 * vfio-pasid: end-to-end PASID test, run inside the guest (static arm64).
 *
 * Through Linux's user-space interfaces only (VFIO device cdev + iommufd):
 *  1. bind the PASID test device (pcie-pasid-testdev, 1b36:0015) to
 *     vfio-pci and bind its cdev to /dev/iommu;
 *  2. build three I/O address spaces that map the same IOVA to three
 *     different buffers, and attach them to PASID a, PASID b and to the
 *     device itself (requests without PASID);
 *  3. make the device write a distinct pattern to that IOVA with PASID a,
 *     PASID b and untagged, and check that each buffer got exactly its own
 *     data, then read it back with the device (checksum);
 *  4. detach PASID a: a DMA with PASID a must now fail (device STATUS)
 *     and leave every buffer alone, while PASID b and untagged still work;
 *  5. replace PASID b's page tables by a's (attach without detach): its
 *     DMA now lands in buffer a;
 *  6. unmap the IOVA from the untagged space: untagged DMA fails, PASID b
 *     still works.
 *
 * Output: one line per step, "<name> <value...>", for tests/guest/vfio.sh
 * to turn into markers; the last line is "result pass" or "result fail".
 * Exit status 0 only if every check passed.
 *
 * Usage: vfio-pasid BDF [PASID_A PASID_B]     (BDF like 0000:00:02.0)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

/* The test device's registers (docs/specs/pcie-pasid-testdev.rst) */
enum {
    REG_ID = 0x00,
    REG_SRC_LO = 0x08,
    REG_SRC_HI = 0x0c,
    REG_DST_LO = 0x10,
    REG_DST_HI = 0x14,
    REG_LEN = 0x18,
    REG_PASID = 0x1c,
    REG_CTRL = 0x20,
    REG_REPEAT = 0x24,
    REG_PATTERN = 0x28,
    REG_DOORBELL = 0x2c,
    REG_STATUS = 0x30,
    REG_FAILED = 0x34,
    REG_RESULT = 0x38,
    REG_CHECKSUM = 0x3c,
    REG_PASID_CNT = 0x40,
};
#define TESTDEV_ID          0x44495350u
#define CTRL_PASID_VALID    (1u << 0)
#define CTRL_OP_READ        (1u << 4)
#define CTRL_OP_WRITE       (2u << 4)
#define STATUS_DONE         (1u << 0)
#define STATUS_ERROR        (1u << 1)
#define STATUS_CAUSE(s)     (((s) >> 8) & 0xff)

#define PAGE                4096u
#define IOVA                0x40000000ull   /* the same IOVA in all three */
#define DMA_LEN             256u            /* bytes the device writes */
#define POISON              0xa5

#define NO_PASID            (~0u)

static int failures;

static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void check(int ok, const char *what, const char *fmt, ...)
{
    va_list ap;

    printf("check %s %s ", ok ? "PASS" : "FAIL", what);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    failures += !ok;
}

static void die(const char *what)
{
    say("error %s: %s", what, strerror(errno));
    say("result fail");
    exit(1);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);

    if (fd < 0 || write(fd, text, strlen(text)) < 0) {
        die(path);
    }
    close(fd);
}

/* Step 1: hand the device to vfio-pci (driver_override + drivers_probe) */
static void bind_vfio_pci(const char *bdf)
{
    char path[256], link[256];
    ssize_t n;

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
    n = readlink(path, link, sizeof(link) - 1);
    if (n > 0) {
        link[n] = 0;
        if (strstr(link, "/vfio-pci")) {
            return;
        }
        snprintf(path, sizeof(path),
                 "/sys/bus/pci/devices/%s/driver/unbind", bdf);
        write_file(path, bdf);
    }
    snprintf(path, sizeof(path),
             "/sys/bus/pci/devices/%s/driver_override", bdf);
    write_file(path, "vfio-pci");
    write_file("/sys/bus/pci/drivers_probe", bdf);
}

/* The device's VFIO cdev: /sys/bus/pci/devices/BDF/vfio-dev/vfioN */
static int open_vfio_cdev(const char *bdf)
{
    char path[256];
    struct dirent *e;
    DIR *d;
    int fd = -1;

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
    d = opendir(path);
    if (!d) {
        die(path);
    }
    while ((e = readdir(d))) {
        if (!strncmp(e->d_name, "vfio", 4)) {
            snprintf(path, sizeof(path), "/dev/vfio/devices/%.64s", e->d_name);
            say("cdev %s", path);
            fd = open(path, O_RDWR);
            break;
        }
    }
    closedir(d);
    if (fd < 0) {
        die("open the VFIO device cdev");
    }
    return fd;
}

struct testdev {
    int fd;             /* VFIO device cdev */
    uint64_t bar0;      /* file offset of BAR 0 */
    uint64_t config;    /* file offset of config space */
};

static uint64_t region_offset(int fd, uint32_t index)
{
    struct vfio_region_info info = { .argsz = sizeof(info), .index = index };

    if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &info)) {
        die("VFIO_DEVICE_GET_REGION_INFO");
    }
    return info.offset;
}

static void reg_write(struct testdev *t, uint32_t reg, uint32_t val)
{
    if (pwrite(t->fd, &val, 4, t->bar0 + reg) != 4) {
        die("BAR 0 write");
    }
}

static uint32_t reg_read(struct testdev *t, uint32_t reg)
{
    uint32_t val;

    if (pread(t->fd, &val, 4, t->bar0 + reg) != 4) {
        die("BAR 0 read");
    }
    return val;
}

/* Memory Space and Bus Master Enable in the Command register */
static void enable_bus_master(struct testdev *t)
{
    uint16_t cmd;

    if (pread(t->fd, &cmd, 2, t->config + 4) != 2) {
        die("config read");
    }
    cmd |= 0x6;
    if (pwrite(t->fd, &cmd, 2, t->config + 4) != 2) {
        die("config write");
    }
}

/*
 * One transfer of @len bytes at IOVA, tagged with @pasid unless it is
 * NO_PASID.  Returns STATUS; *checksum gets CHECKSUM (reads).
 */
static uint32_t testdev_dma(struct testdev *t, uint32_t op, uint32_t len,
                            uint32_t pasid, uint32_t pattern,
                            uint32_t *checksum)
{
    uint32_t ctrl = op;

    reg_write(t, REG_SRC_LO, (uint32_t)IOVA);
    reg_write(t, REG_SRC_HI, (uint32_t)(IOVA >> 32));
    reg_write(t, REG_DST_LO, (uint32_t)IOVA);
    reg_write(t, REG_DST_HI, (uint32_t)(IOVA >> 32));
    reg_write(t, REG_LEN, len);
    reg_write(t, REG_REPEAT, 1);
    reg_write(t, REG_PASID_CNT, 0);
    reg_write(t, REG_PATTERN, pattern);
    if (pasid != NO_PASID) {
        reg_write(t, REG_PASID, pasid);
        ctrl |= CTRL_PASID_VALID;
    }
    reg_write(t, REG_CTRL, ctrl);
    reg_write(t, REG_DOORBELL, 1);
    if (checksum) {
        *checksum = reg_read(t, REG_CHECKSUM);
    }
    return reg_read(t, REG_STATUS);
}

static const char *pasid_str(uint32_t pasid, char *tmp)
{
    if (pasid == NO_PASID) {
        return "none";
    }
    sprintf(tmp, "%u", pasid);
    return tmp;
}

/* An I/O address space mapping IOVA to its own page-aligned buffer */
struct space {
    const char *name;
    uint32_t pasid;     /* NO_PASID: the device's requests without PASID */
    uint32_t pattern;   /* what the device writes for this space */
    uint8_t *buf;
    uint32_t ioas, hwpt;
};

static void space_create(int iommufd, uint32_t dev_id, struct space *s)
{
    struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
    struct iommu_ioas_map map = { .size = sizeof(map) };
    struct iommu_hwpt_alloc hwpt = { .size = sizeof(hwpt) };

    s->buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (s->buf == MAP_FAILED) {
        die("mmap");
    }
    memset(s->buf, POISON, PAGE);

    if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
        die("IOMMU_IOAS_ALLOC");
    }
    s->ioas = alloc.out_ioas_id;

    map.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
                IOMMU_IOAS_MAP_WRITEABLE;
    map.ioas_id = s->ioas;
    map.user_va = (uintptr_t)s->buf;
    map.length = PAGE;
    map.iova = IOVA;
    if (ioctl(iommufd, IOMMU_IOAS_MAP, &map)) {
        die("IOMMU_IOAS_MAP");
    }

    /*
     * iommufd only attaches a PASID to page tables allocated for PASID
     * use, and then also wants the device's own (no PASID) ones to be.
     */
    hwpt.flags = IOMMU_HWPT_ALLOC_PASID;
    hwpt.dev_id = dev_id;
    hwpt.pt_id = s->ioas;
    if (ioctl(iommufd, IOMMU_HWPT_ALLOC, &hwpt)) {
        die("IOMMU_HWPT_ALLOC");
    }
    s->hwpt = hwpt.out_hwpt_id;
    say("space %s ioas=%u hwpt=%u iova=0x%llx buf=%p", s->name, s->ioas,
        s->hwpt, IOVA, (void *)s->buf);
}

static void space_attach(int devfd, struct space *s)
{
    struct vfio_device_attach_iommufd_pt at = {
        .argsz = sizeof(at), .pt_id = s->hwpt,
    };
    char tmp[16];

    if (s->pasid != NO_PASID) {
        at.flags = VFIO_DEVICE_ATTACH_PASID;
        at.pasid = s->pasid;
    }
    if (ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at)) {
        die("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
    }
    say("attach %s pasid=%s hwpt=%u", s->name, pasid_str(s->pasid, tmp),
        at.pt_id);
}

static void space_unmap(int iommufd, struct space *s)
{
    struct iommu_ioas_unmap unmap = {
        .size = sizeof(unmap), .ioas_id = s->ioas, .iova = IOVA,
        .length = PAGE,
    };

    if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &unmap)) {
        die("IOMMU_IOAS_UNMAP");
    }
    say("unmap %s iova=0x%llx", s->name, IOVA);
}

static void pasid_detach(int devfd, uint32_t pasid)
{
    struct vfio_device_detach_iommufd_pt de = {
        .argsz = sizeof(de), .flags = VFIO_DEVICE_DETACH_PASID,
        .pasid = pasid,
    };

    if (ioctl(devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &de)) {
        die("VFIO_DEVICE_DETACH_IOMMUFD_PT");
    }
    say("detach pasid=%u", pasid);
}

/*
 * Does @buf hold the device's write of @pattern (words pattern,
 * pattern + 1, ...) in its first DMA_LEN bytes, and POISON after?
 * With @pattern 0 only POISON is expected (untouched).
 */
static int buf_holds(const uint8_t *buf, uint32_t pattern)
{
    uint32_t i, w;

    for (i = 0; pattern && i < DMA_LEN; i += 4) {
        memcpy(&w, buf + i, 4);
        if (w != pattern + i / 4) {
            return 0;
        }
    }
    for (i = pattern ? DMA_LEN : 0; i < PAGE; i++) {
        if (buf[i] != POISON) {
            return 0;
        }
    }
    return 1;
}

static uint32_t byte_sum(const uint8_t *buf)
{
    uint32_t i, sum = 0;

    for (i = 0; i < DMA_LEN; i++) {
        sum += buf[i];
    }
    return sum;
}

/*
 * Write with @s's tag; then every space must hold what it should.  Check
 * names are @round followed by the space's name.
 */
static void dma_write_and_check(struct testdev *t, const char *round,
                                struct space *sp, int n, struct space *s,
                                uint32_t *expect)
{
    char what[64], tmp[16];
    uint32_t status, sum;
    int i, ok = 1;

    status = testdev_dma(t, CTRL_OP_WRITE, DMA_LEN, s->pasid, s->pattern,
                         NULL);
    snprintf(what, sizeof(what), "%swrite_%s", round, s->name);
    check(status == STATUS_DONE, what, "pasid=%s status=0x%x",
          pasid_str(s->pasid, tmp), status);

    expect[s - sp] = s->pattern;
    for (i = 0; i < n; i++) {
        ok &= buf_holds(sp[i].buf, expect[i]);
    }
    snprintf(what, sizeof(what), "%slanded_%s", round, s->name);
    check(ok, what, "each buffer holds exactly its own data");

    /* And back: the device reads what it wrote, through the same tag */
    status = testdev_dma(t, CTRL_OP_READ, DMA_LEN, s->pasid, 0, &sum);
    snprintf(what, sizeof(what), "%sread_%s", round, s->name);
    check(status == STATUS_DONE && sum == byte_sum(s->buf), what,
          "status=0x%x checksum=0x%x expected=0x%x", status, sum,
          byte_sum(s->buf));
}

/*
 * A write with @pasid that must fail: the device reports the failure and
 * no buffer changes.  Check names start with @what.  One word: QEMU's
 * memory core retries a failed access in 4-byte pieces, each raising its
 * own event, and the kernel's rate limit would drop the records after
 * the first few.
 */
static void dma_write_must_fail(struct testdev *t, const char *what,
                                uint32_t pasid, struct space *sp, int n,
                                const uint32_t *expect)
{
    char name[64], tmp[16];
    uint32_t status, failed;
    int i, ok = 1;

    status = testdev_dma(t, CTRL_OP_WRITE, 4, pasid, 0xdd000000, NULL);
    failed = reg_read(t, REG_FAILED);
    snprintf(name, sizeof(name), "%s_fails", what);
    check((status & STATUS_ERROR) && failed == 1, name,
          "pasid=%s status=0x%x cause=%u failed=%u result=%u",
          pasid_str(pasid, tmp), status, STATUS_CAUSE(status), failed,
          reg_read(t, REG_RESULT));
    for (i = 0; i < n; i++) {
        ok &= buf_holds(sp[i].buf, expect[i]);
    }
    snprintf(name, sizeof(name), "%s_untouched", what);
    check(ok, name, "no buffer changed");
}

int main(int argc, char **argv)
{
    struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
    struct iommu_hw_info info = { .size = sizeof(info) };
    struct testdev t;
    struct space sp[3] = {
        { .name = "a", .pattern = 0xaa000000 },
        { .name = "b", .pattern = 0xbb000000 },
        { .name = "untagged", .pasid = NO_PASID, .pattern = 0xcc000000 },
    };
    struct space replace;
    uint32_t expect[3] = { 0, 0, 0 };
    const char *bdf;
    int iommufd, i;

    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: %s BDF [PASID_A PASID_B]\n", argv[0]);
        return 2;
    }
    bdf = argv[1];
    sp[0].pasid = argc == 4 ? strtoul(argv[2], NULL, 0) : 0x100;
    sp[1].pasid = argc == 4 ? strtoul(argv[3], NULL, 0) : 0xfffff;

    /* 1. vfio-pci, the cdev, iommufd */
    bind_vfio_pci(bdf);
    t.fd = open_vfio_cdev(bdf);
    iommufd = open("/dev/iommu", O_RDWR);
    if (iommufd < 0) {
        die("/dev/iommu");
    }
    bind.iommufd = iommufd;
    if (ioctl(t.fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
        die("VFIO_DEVICE_BIND_IOMMUFD");
    }
    info.dev_id = bind.out_devid;
    if (ioctl(iommufd, IOMMU_GET_HW_INFO, &info)) {
        die("IOMMU_GET_HW_INFO");
    }
    say("bound dev_id=%u max_pasid_log2=%u", bind.out_devid,
        info.out_max_pasid_log2);

    t.bar0 = region_offset(t.fd, VFIO_PCI_BAR0_REGION_INDEX);
    t.config = region_offset(t.fd, VFIO_PCI_CONFIG_REGION_INDEX);
    check(reg_read(&t, REG_ID) == TESTDEV_ID, "bar0", "id=0x%x",
          reg_read(&t, REG_ID));
    enable_bus_master(&t);

    /* 2. Three spaces, one IOVA */
    for (i = 0; i < 3; i++) {
        space_create(iommufd, bind.out_devid, &sp[i]);
    }
    /* The device's own space first: PASIDs hang off its CD table */
    space_attach(t.fd, &sp[2]);
    space_attach(t.fd, &sp[0]);
    space_attach(t.fd, &sp[1]);

    /* 3. Each tag lands in its own buffer */
    for (i = 0; i < 3; i++) {
        dma_write_and_check(&t, "", sp, 3, &sp[i], expect);
    }

    /* 4. Detach PASID a: its DMA fails, touches nothing; b still works */
    pasid_detach(t.fd, sp[0].pasid);
    dma_write_must_fail(&t, "detached_a", sp[0].pasid, sp, 3, expect);
    sp[1].pattern = 0xbe000000;
    sp[2].pattern = 0xce000000;
    dma_write_and_check(&t, "detached_a_then_", sp, 3, &sp[1], expect);
    dma_write_and_check(&t, "detached_a_then_", sp, 3, &sp[2], expect);

    /*
     * 5. PASID b moves to a's page tables in one attach (a replacement,
     * no detach in between): its DMA now lands in buffer a.
     */
    replace = sp[1];
    replace.hwpt = sp[0].hwpt;
    space_attach(t.fd, &replace);
    sp[0].pasid = sp[1].pasid;
    sp[0].pattern = 0xab000000;
    dma_write_and_check(&t, "b_replaced_by_a_", sp, 3, &sp[0], expect);

    /* 6. Unmap the untagged space's IOVA: untagged fails, b still works */
    space_unmap(iommufd, &sp[2]);
    dma_write_must_fail(&t, "unmapped_untagged", NO_PASID, sp, 3, expect);
    sp[0].pattern = 0xac000000;
    dma_write_and_check(&t, "unmapped_untagged_then_", sp, 3, &sp[0],
                        expect);

    say("result %s failures=%d", failures ? "fail" : "pass", failures);
    return failures ? 1 : 0;
}
