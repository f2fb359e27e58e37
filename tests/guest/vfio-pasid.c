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
 * With --ats every transfer goes through the device's ATC (CTRL.ATS):
 * translated by ATS Translation Requests, then issued as Translated
 * requests (which the device only issues while Linux has enabled its
 * ATS); after each transfer the ATC's counters are reported ("atc <step>
 * ...").  A
 * detached PASID's request gets a Completer Abort (CAUSE 5); an unmapped
 * IOVA a translation without access (CAUSE 4).
 *
 * Between 3 and 4, COMMAND (if given) runs with sh -c: other DMA through
 * the same SMMU while the device is attached (tests/guest/vfio.sh reads
 * the virtio-blk disk there).
 *
 * Output: one line per step, "<name> <value...>", for tests/guest/vfio.sh
 * to turn into markers; checks are "check PASS|FAIL <name> <detail>", the
 * last line is "result pass" or "result fail".  Exit status 0 only if
 * every check passed.
 *
 * Usage: vfio-pasid [--ats] BDF [PASID_A PASID_B [COMMAND]]
 * (BDF: 0000:00:02.0)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "vfio-lib.h"

#define IOVA                0x40000000ull   /* the same IOVA in all three */
#define DMA_LEN             256u            /* bytes the device writes */
#define POISON              0xa5

static uint32_t page;       /* the buffers' size: one page */

/*
 * An I/O address space: IOVA mapped to its own buffer (one page), and the
 * PASID-capable page tables (HWPT) iommufd made for it.
 */
struct space {
    const char *name;
    uint8_t *buf;
    uint32_t ioas, hwpt;
    uint32_t expect;    /* the pattern last written into buf, 0: none */
};

static void space_create(int iommufd, uint32_t dev_id, struct space *s,
                         const char *name)
{
    struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
    struct iommu_ioas_map map = { .size = sizeof(map) };
    struct iommu_hwpt_alloc hwpt = { .size = sizeof(hwpt) };

    s->name = name;
    s->expect = 0;
    s->buf = mmap(NULL, page, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (s->buf == MAP_FAILED) {
        die("mmap", NULL);
    }
    memset(s->buf, POISON, page);

    if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
        die("IOMMU_IOAS_ALLOC", NULL);
    }
    s->ioas = alloc.out_ioas_id;

    map.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
                IOMMU_IOAS_MAP_WRITEABLE;
    map.ioas_id = s->ioas;
    map.user_va = (uintptr_t)s->buf;
    map.length = page;
    map.iova = IOVA;
    if (ioctl(iommufd, IOMMU_IOAS_MAP, &map)) {
        die("IOMMU_IOAS_MAP", NULL);
    }

    /*
     * iommufd attaches a PASID only to page tables allocated for PASID
     * use, and once a PASID is attached it wants the device's own (no
     * PASID) tables to be such too (iommufd_hwpt_pasid_compat()).
     */
    hwpt.flags = IOMMU_HWPT_ALLOC_PASID;
    hwpt.dev_id = dev_id;
    hwpt.pt_id = s->ioas;
    if (ioctl(iommufd, IOMMU_HWPT_ALLOC, &hwpt)) {
        die("IOMMU_HWPT_ALLOC", NULL);
    }
    s->hwpt = hwpt.out_hwpt_id;
    say("space %s ioas=%u hwpt=%u iova=0x%llx buf=%p", s->name, s->ioas,
        s->hwpt, IOVA, (void *)s->buf);
}

static void space_unmap(int iommufd, struct space *s)
{
    struct iommu_ioas_unmap unmap = {
        .size = sizeof(unmap), .ioas_id = s->ioas, .iova = IOVA,
        .length = page,
    };

    if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &unmap)) {
        die("IOMMU_IOAS_UNMAP", NULL);
    }
    say("unmap %s iova=0x%llx", s->name, IOVA);
}

/*
 * Requests with @pasid (NO_PASID: the device's own) now use @s's page
 * tables.  Attaching a PASID that already has tables replaces them.
 */
static void attach(int devfd, uint32_t pasid, struct space *s)
{
    struct vfio_device_attach_iommufd_pt at = {
        .argsz = sizeof(at), .pt_id = s->hwpt,
    };
    char tmp[16];

    if (pasid != NO_PASID) {
        at.flags = VFIO_DEVICE_ATTACH_PASID;
        at.pasid = pasid;
    }
    if (ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at)) {
        die("VFIO_DEVICE_ATTACH_IOMMUFD_PT", NULL);
    }
    say("attach pasid=%s space=%s hwpt=%u", pasid_str(pasid, tmp), s->name,
        at.pt_id);
}

static void detach(int devfd, uint32_t pasid)
{
    struct vfio_device_detach_iommufd_pt de = {
        .argsz = sizeof(de), .flags = VFIO_DEVICE_DETACH_PASID,
        .pasid = pasid,
    };

    if (ioctl(devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &de)) {
        die("VFIO_DEVICE_DETACH_IOMMUFD_PT", NULL);
    }
    say("detach pasid=%u", pasid);
}

/*
 * Does @s's buffer hold the device's write of s->expect (words expect,
 * expect + 1, ...) in its first DMA_LEN bytes, and POISON after?  With
 * expect 0, only POISON (never written).
 */
static int space_intact(const struct space *s)
{
    uint32_t i, w;

    for (i = 0; s->expect && i < DMA_LEN; i += 4) {
        memcpy(&w, s->buf + i, 4);
        if (w != s->expect + i / 4) {
            return 0;
        }
    }
    for (i = s->expect ? DMA_LEN : 0; i < page; i++) {
        if (s->buf[i] != POISON) {
            return 0;
        }
    }
    return 1;
}

static int all_intact(const struct space *sp, int n)
{
    int i, ok = 1;

    for (i = 0; i < n; i++) {
        ok &= space_intact(&sp[i]);
    }
    return ok;
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
 * The device writes @pattern with tag @pasid, which must land in @target
 * and nowhere else; then it reads it back through the same tag.  Checks
 * "<what>_write", "<what>_landed", "<what>_read".
 */
static void dma_lands_in(struct testdev *t, const char *what, uint32_t pasid,
                         uint32_t pattern, struct space *target,
                         struct space *sp, int n)
{
    char name[64], tmp[16];
    uint32_t status, sum;

    status = testdev_dma(t, PASID_TESTDEV_OP_WRITE, IOVA, DMA_LEN, pasid,
                         pattern, NULL);
    snprintf(name, sizeof(name), "%s_write", what);
    testdev_say_atc(t, name);
    check(status == R_STATUS_DONE_MASK, name, "pasid=%s status=0x%x",
          pasid_str(pasid, tmp), status);

    target->expect = pattern;
    snprintf(name, sizeof(name), "%s_landed", what);
    check(all_intact(sp, n), name, "in buffer %s only", target->name);

    status = testdev_dma(t, PASID_TESTDEV_OP_READ, IOVA, DMA_LEN, pasid, 0,
                         &sum);
    snprintf(name, sizeof(name), "%s_read", what);
    testdev_say_atc(t, name);
    check(status == R_STATUS_DONE_MASK && sum == byte_sum(target->buf), name,
          "status=0x%x checksum=0x%x expected=0x%x", status, sum,
          byte_sum(target->buf));
}

/*
 * A write with tag @pasid that the SMMU must refuse: the device reports
 * the failure, @cause (4, a failed write, not 2: the device itself did
 * issue it; 5 with ATS, a failed Translation Request) and no buffer
 * changes.  Checks "<what>_refused", "<what>_untouched".  The write has
 * the full DMA_LEN: the SMMU records one event for it.
 */
static void dma_refused(struct testdev *t, const char *what, uint32_t pasid,
                        uint32_t want_cause, struct space *sp, int n)
{
    char name[64], tmp[16];
    uint32_t status, cause, failed;

    status = testdev_dma(t, PASID_TESTDEV_OP_WRITE, IOVA, DMA_LEN, pasid,
                         0xdd000000, NULL);
    cause = FIELD_EX32(status, STATUS, CAUSE);
    failed = testdev_read(t, A_FAILED);
    snprintf(name, sizeof(name), "%s_refused", what);
    testdev_say_atc(t, name);
    check((status & R_STATUS_ERROR_MASK) && cause == want_cause &&
          failed == 1, name,
          "pasid=%s status=0x%x cause=%u failed=%u result=%u",
          pasid_str(pasid, tmp), status, cause, failed,
          testdev_read(t, A_RESULT));
    snprintf(name, sizeof(name), "%s_untouched", what);
    check(all_intact(sp, n), name, "no buffer changed");
}

/* Run @cmd (sh -c) and report each line of its output as "during ..." */
static void run_during(const char *cmd)
{
    char line[256];
    FILE *f;

    say("during$ %s", cmd);
    f = popen(cmd, "r");
    if (!f) {
        die("popen", NULL);
    }
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        say("during %s", line);
    }
    say("during_exit %d", pclose(f));
}

int main(int argc, char **argv)
{
    struct testdev t;
    struct space sp[3];
    struct space *space_a = &sp[0], *space_b = &sp[1], *space_u = &sp[2];
    uint32_t pasid_a = 0x100, pasid_b = 0xfffff;
    const char *bdf, *during = NULL;
    int i, ats = argc > 1 && !strcmp(argv[1], "--ats");
    uint32_t refused_cause;

    argc -= ats;
    argv += ats;
    if (argc < 2 || argc == 3 || argc > 5) {
        fprintf(stderr, "usage: vfio-pasid [--ats] BDF [PASID_A PASID_B "
                "[COMMAND]]\n");
        return 2;
    }
    bdf = argv[1];
    if (argc >= 4) {
        pasid_a = parse_pasid(argv[2]);
        pasid_b = parse_pasid(argv[3]);
    }
    if (argc == 5) {
        during = argv[4];
    }
    if (pasid_a == pasid_b) {
        errno = EINVAL;
        die("PASIDs", "PASID_A and PASID_B must differ");
    }
    page = sysconf(_SC_PAGESIZE);

    /* 1. vfio-pci, the cdev, iommufd */
    testdev_open(&t, bdf);
    t.ats = ats;
    refused_cause = ats ? PASID_TESTDEV_CAUSE_ATS_REQUEST :
                          PASID_TESTDEV_CAUSE_WRITE_FAULT;

    /* 2. Three spaces, one IOVA: untagged, PASID a, PASID b */
    space_create(t.iommufd, t.dev_id, space_a, "a");
    space_create(t.iommufd, t.dev_id, space_b, "b");
    space_create(t.iommufd, t.dev_id, space_u, "untagged");
    attach(t.fd, NO_PASID, space_u);
    attach(t.fd, pasid_a, space_a);
    attach(t.fd, pasid_b, space_b);

    /* 3. Each tag lands in its own buffer */
    dma_lands_in(&t, "a", pasid_a, 0xaa000000, space_a, sp, 3);
    dma_lands_in(&t, "b", pasid_b, 0xbb000000, space_b, sp, 3);
    dma_lands_in(&t, "untagged", NO_PASID, 0xcc000000, space_u, sp, 3);

    /* Other DMA through the same SMMU while the device is attached */
    if (during) {
        run_during(during);
    }

    /* 4. Detach PASID a: its DMA fails, touches nothing; b still works */
    detach(t.fd, pasid_a);
    dma_refused(&t, "a_detached", pasid_a, refused_cause, sp, 3);
    dma_lands_in(&t, "b_after_detach", pasid_b, 0xbe000000, space_b, sp, 3);
    dma_lands_in(&t, "untagged_after_detach", NO_PASID, 0xce000000,
                 space_u, sp, 3);

    /*
     * 5. PASID b moves to a's page tables in one attach (a replacement,
     * no detach in between): its DMA now lands in buffer a.
     */
    attach(t.fd, pasid_b, space_a);
    dma_lands_in(&t, "b_moved", pasid_b, 0xab000000, space_a, sp, 3);

    /* 6. Unmap the untagged space's IOVA: untagged fails, b still works */
    space_unmap(t.iommufd, space_u);
    dma_refused(&t, "untagged_unmapped", NO_PASID,
                PASID_TESTDEV_CAUSE_WRITE_FAULT, sp, 3);
    dma_lands_in(&t, "b_after_unmap", pasid_b, 0xac000000, space_a, sp, 3);

    for (i = 0; i < 3; i++) {
        say("buffer %s holds 0x%08x", sp[i].name, sp[i].expect);
    }
    return finish();
}
