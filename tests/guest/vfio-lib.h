/*
 * vfio-lib: what the guest programs that drive the PASID test device
 * through VFIO share (vfio-pasid.c, vsmmu.c): their output protocol, the
 * device bound to vfio-pci with its cdev bound to iommufd, its registers
 * and one DMA transfer.
 *
 * Output: one line per step, "<name> <value...>"; checks are
 * "check PASS|FAIL <name> <detail>"; the last line is "result pass" or
 * "result fail" (the tests/guest shell scripts turn them into markers).
 */
#ifndef VFIO_LIB_H
#define VFIO_LIB_H

#include <stdint.h>

/*
 * The test device's registers and constants: QEMU's own header, with
 * REG32()/FIELD() from tests/guest/shim/hw/registerfields.h.
 */
#include "hw/misc/pcie-pasid-testdev.h"

#define NO_PASID            (~0u)   /* an untagged transfer */

extern int failures;                /* checks that failed so far */

void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void check(int ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Give up: report what failed, errno, a @hint if there is one; exit 1 */
void die(const char *what, const char *hint) __attribute__((noreturn));
/* "result pass|fail failures=N"; the exit status for main() */
int finish(void);
uint32_t parse_pasid(const char *arg);
const char *pasid_str(uint32_t pasid, char *tmp);

struct testdev {
    int fd;             /* VFIO device cdev */
    int ats;            /* transfers through the device's ATC (CTRL.ATS) */
    int iommufd;
    uint32_t dev_id;    /* iommufd's ID of the device */
    uint64_t bar0;      /* file offset of BAR 0 */
    uint64_t config;    /* file offset of config space */
};

/*
 * Hand the device at @bdf (0000:00:02.0) to vfio-pci, open its cdev, bind
 * it to a new iommufd, check its ID register and enable bus mastering.
 * Says "bound dev_id=N max_pasid_log2=N".
 */
void testdev_open(struct testdev *t, const char *bdf);
uint32_t testdev_read(struct testdev *t, uint32_t reg);
void testdev_write(struct testdev *t, uint32_t reg, uint32_t val);
/* With t->ats: says "atc WHEN hits=N misses=N invalidated=N ..." */
void testdev_say_atc(struct testdev *t, const char *when);

/*
 * One transfer of @len bytes (op PASID_TESTDEV_OP_*) from and to @iova,
 * tagged with @pasid unless it is NO_PASID, through the ATC if t->ats;
 * waits for it (10 s at most).
 * Returns STATUS; *checksum gets CHECKSUM (reads) if not NULL.
 */
uint32_t testdev_dma(struct testdev *t, uint32_t op, uint64_t iova,
                     uint32_t len, uint32_t pasid, uint32_t pattern,
                     uint32_t *checksum);

#endif
