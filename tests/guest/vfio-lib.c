/* vfio-lib: see vfio-lib.h */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "vfio-lib.h"

int failures;

void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

void check(int ok, const char *what, const char *fmt, ...)
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

void die(const char *what, const char *hint)
{
    say("error %s: %s%s%s", what, errno ? strerror(errno) : "failed",
        hint ? ": " : "", hint ? hint : "");
    say("result fail");
    exit(1);
}

int finish(void)
{
    say("result %s failures=%d", failures ? "fail" : "pass", failures);
    return failures ? 1 : 0;
}

uint32_t parse_pasid(const char *arg)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(arg, &end, 0);
    if (errno || *end || end == arg || v > 0xfffff) {
        errno = EINVAL;
        die("PASID", "a number from 0 to 0xfffff");
    }
    return v;
}

const char *pasid_str(uint32_t pasid, char *tmp)
{
    if (pasid == NO_PASID) {
        return "none";
    }
    sprintf(tmp, "%u", pasid);
    return tmp;
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);

    if (fd < 0 || write(fd, text, strlen(text)) < 0) {
        die(path, NULL);
    }
    close(fd);
}

/* vfio-pci takes the device (driver_override + drivers_probe) */
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
        die(path, "vfio-pci did not bind it (CONFIG_VFIO_DEVICE_CDEV?)");
    }
    errno = 0;
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
        die("VFIO device cdev", "none under vfio-dev/ or open failed");
    }
    return fd;
}

static uint64_t region_offset(int fd, uint32_t index)
{
    struct vfio_region_info info = { .argsz = sizeof(info), .index = index };

    if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &info)) {
        die("VFIO_DEVICE_GET_REGION_INFO", NULL);
    }
    return info.offset;
}

void testdev_write(struct testdev *t, uint32_t reg, uint32_t val)
{
    if (pwrite(t->fd, &val, 4, t->bar0 + reg) != 4) {
        die("BAR 0 write", NULL);
    }
}

uint32_t testdev_read(struct testdev *t, uint32_t reg)
{
    uint32_t val;

    if (pread(t->fd, &val, 4, t->bar0 + reg) != 4) {
        die("BAR 0 read", NULL);
    }
    return val;
}

/* Memory Space and Bus Master Enable in the Command register */
static void enable_bus_master(struct testdev *t)
{
    uint16_t cmd;

    if (pread(t->fd, &cmd, 2, t->config + 4) != 2) {
        die("config read", NULL);
    }
    cmd |= 0x6;
    if (pwrite(t->fd, &cmd, 2, t->config + 4) != 2) {
        die("config write", NULL);
    }
}

void testdev_open(struct testdev *t, const char *bdf)
{
    struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
    struct iommu_hw_info info = { .size = sizeof(info) };

    bind_vfio_pci(bdf);
    t->ats = 0;
    t->fd = open_vfio_cdev(bdf);
    t->iommufd = open("/dev/iommu", O_RDWR);
    if (t->iommufd < 0) {
        die("/dev/iommu", NULL);
    }
    bind.iommufd = t->iommufd;
    if (ioctl(t->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
        die("VFIO_DEVICE_BIND_IOMMUFD", errno == EPERM ?
            "MSIs not isolated? (the virt machine needs gic-version=3, "
            "whose ITS isolates them)" : NULL);
    }
    t->dev_id = bind.out_devid;
    info.dev_id = t->dev_id;
    if (ioctl(t->iommufd, IOMMU_GET_HW_INFO, &info)) {
        die("IOMMU_GET_HW_INFO", NULL);
    }
    say("bound dev_id=%u max_pasid_log2=%u", t->dev_id,
        info.out_max_pasid_log2);

    t->bar0 = region_offset(t->fd, VFIO_PCI_BAR0_REGION_INDEX);
    t->config = region_offset(t->fd, VFIO_PCI_CONFIG_REGION_INDEX);
    if (testdev_read(t, A_ID) != PASID_TESTDEV_MAGIC) {
        errno = ENODEV;
        die("BAR 0", "ID register is not the PASID test device's");
    }
    enable_bus_master(t);
}

void testdev_say_atc(struct testdev *t, const char *when)
{
    if (!t->ats) {
        return;
    }
    say("atc %s hits=%u misses=%u invalidated=%u refused=%u entries=%u",
        when, testdev_read(t, A_ATC_HITS), testdev_read(t, A_ATC_MISSES),
        testdev_read(t, A_ATC_INVALIDATED), testdev_read(t, A_ATS_REFUSED),
        testdev_read(t, A_ATC_ENTRIES));
}

/* The device runs a transfer in the background (STATUS.BUSY) */
static uint32_t testdev_wait(struct testdev *t)
{
    struct timespec start, now;
    uint32_t status;

    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!((status = testdev_read(t, A_STATUS)) & R_STATUS_DONE_MASK)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 10) {
            errno = ETIMEDOUT;
            die("STATUS", "the device stayed busy for 10 s");
        }
    }
    return status;
}

uint32_t testdev_dma(struct testdev *t, uint32_t op, uint64_t iova,
                     uint32_t len, uint32_t pasid, uint32_t pattern,
                     uint32_t *checksum)
{
    uint32_t status;

    testdev_write(t, A_SRC_LO, (uint32_t)iova);
    testdev_write(t, A_SRC_HI, (uint32_t)(iova >> 32));
    testdev_write(t, A_DST_LO, (uint32_t)iova);
    testdev_write(t, A_DST_HI, (uint32_t)(iova >> 32));
    testdev_write(t, A_LEN, len);
    testdev_write(t, A_REPEAT, 1);
    testdev_write(t, A_PASID_CNT, 0);
    testdev_write(t, A_PATTERN, pattern);
    if (pasid != NO_PASID) {
        testdev_write(t, A_PASID, pasid);
    }
    testdev_write(t, A_CTRL, PASID_TESTDEV_CTRL(op, pasid != NO_PASID) |
                             (t->ats ? R_CTRL_ATS_MASK : 0));
    testdev_write(t, A_DOORBELL, 1);
    status = testdev_wait(t);
    if (checksum) {
        *checksum = testdev_read(t, A_CHECKSUM);
    }
    return status;
}
