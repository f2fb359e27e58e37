/*
 * vsmmu: a small VMM's view of iommufd's nested SMMUv3 (vSMMU) uAPI, run
 * inside the guest (static arm64) on the PASID test device.
 *
 * A VMM gives its VM a virtual SMMU: the VM's memory is an I/O address
 * space (IOAS) whose IOVAs are the VM's physical addresses (GPAs); the
 * host SMMU translates them with stage 2 (a nest-parent HWPT), and the VM
 * owns stage 1: its stream table entry (the vSTE), its CD table and its
 * page tables, all at GPAs.  This program plays both the VMM and the VM:
 *  1. binds the test device (VFIO cdev + iommufd), maps a 4 MiB "guest
 *     memory" window at GPA 0x40000000 into an IOAS in 64 KiB pieces,
 *     allocates the nest-parent stage-2 HWPT, a vIOMMU, a vDEVICE (vSID
 *     0x42) and a vEVENTQ;
 *  2. asks for nested HWPTs with illegal vSTEs: the kernel must refuse
 *     each (arm_smmu_validate_vste());
 *  3. builds in the window a linear CD table (S1CDMax 4) with stage-1
 *     page tables for CD 0 and PASIDs 1, 7, 15 that map one IOVA to four
 *     guest pages, attaches it through a vSTE (S1DSS: untagged DMA uses
 *     CD 0), and checks that each tag's DMA lands in its own page and
 *     that no other page of the window's data area changes;
 *  4. CFGI_CD: rewrites PASID 7's CD (new ASID, new tables); QEMU's SMMU
 *     keeps using the CD it holds until CMD_CFGI_CD goes through the
 *     vIOMMU, then the new one;
 *  5. TLBI_NH_VA: rewrites PASID 1's leaf entry; the old translation is
 *     used until CMD_TLBI_NH_VA goes through the vIOMMU, then the new;
 *  6. faults the VM owns (stage 1 and its CDs) come back through the
 *     vEVENTQ with the vSID: F_TRANSLATION for an unmapped IOVA, C_BAD_CD
 *     for an invalid CD, C_BAD_SUBSTREAMID beyond S1CDMax;
 *  7. replaces the table with a 2-level one (64 KiB leaves, S1CDMax 20)
 *     holding CD 0 and PASIDs 1, 0x401, 0xfffff, each in its own page;
 *  8. removes the leaf holding PASID 0x401's CD from the IOAS: its DMA
 *     now faults at stage 2 on the CD fetch, which is the host's fault,
 *     not the VM's: nothing reaches the vEVENTQ; the others still work;
 *  9. a vSTE with S1STALLD, which the kernel accepts but this SMMU (no
 *     stall model) finds ILLEGAL: C_BAD_STE through the vEVENTQ.
 *
 * Without invalidation (4, 5) the architecture guarantees nothing about
 * which structure the SMMU uses: the old one, the new one or, as both
 * rewrites change live entries in place, a mix of the two.  QEMU's SMMU
 * keeps what it cached until the invalidation, so these steps check QEMU's
 * behaviour: the old one, then the new one.
 *
 * Output as vfio-lib.h says; tests/guest/vsmmu.sh makes markers of it.
 * Usage: vsmmu BDF  (0000:00:02.0)
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
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

/* ---- descriptor fields (IHI 0070: 5.2 STE, 5.4 CD, 4 commands) ---- */

/* A field is "shift, length"; set_field(word, FIELD, value) */
#define STE0_V              0, 1
#define STE0_CONFIG         1, 3
#define STE0_S1FMT          4, 2
#define STE0_S1CDMAX        59, 5
#define STE1_S1DSS          0, 2
#define STE1_S1CIR          2, 2
#define STE1_S1COR          4, 2
#define STE1_S1CSH          6, 2
#define STE1_S1STALLD       27, 1
#define STE1_EATS           28, 2
#define STE1_STRW           30, 2
#define CD0_T0SZ            0, 6
#define CD0_TG0             6, 2
#define CD0_IR0             8, 2
#define CD0_OR0             10, 2
#define CD0_SH0             12, 2
#define CD0_EPD1            30, 1
#define CD0_V               31, 1
#define CD0_IPS             32, 3
#define CD0_AA64            41, 1
#define CD0_R               45, 1
#define CD0_A               46, 1
#define CD0_ASET            47, 1
#define CD0_ASID            48, 16
#define PTE_TYPE            0, 2    /* 3: table (levels 0-2), page (3) */
#define PTE_AP              6, 2
#define PTE_SH              8, 2
#define PTE_AF              10, 1
#define PTE_NG              11, 1   /* not global: tagged with the ASID */
#define CMD0_OP             0, 8
#define CMD0_SSID           12, 20
#define CMD0_SID            32, 32
#define CMD0_VMID           32, 16
#define CMD0_ASID           48, 16
#define CMD1_LEAF           0, 1
#define EVT0_TYPE           0, 8
#define EVT0_SSV            11, 1
#define EVT0_SSID           12, 20
#define EVT0_SID            32, 32
#define EVT1_S2             39, 1

#define ADDR_MASK(lo)       (((1ull << 52) - 1) & ~((1ull << (lo)) - 1))

#define STE_CONFIG_S1       5
#define STE_CONFIG_S2       6
#define STE_CONFIG_NESTED   7
#define STE_S1FMT_LINEAR    0
#define STE_S1FMT_64K_L2    2       /* 2-level, 64 KiB leaves: SPLIT 10 */
#define STE_S1DSS_SSID0     2       /* untagged transactions use CD 0 */
#define STE_EATS_SPLIT      2       /* split-stage ATS: not for nesting */
#define CACHE_WBRA          1
#define SH_INNER            3
#define IPS_44BIT           4
#define PTE_AP_RW_ANY       1
#define CMD_CFGI_CD         0x05
#define CMD_TLBI_NH_VA      0x12
#define EVT_C_BAD_STE       0x04
#define EVT_C_BAD_SUBSTREAMID 0x08
#define EVT_C_BAD_CD        0x0a
#define EVT_F_TRANSLATION   0x10

/* The CD a tag uses: an untagged transaction uses CD 0 (STE.S1DSS) */
static uint32_t ssid_of(uint32_t pasid)
{
    return pasid == NO_PASID ? 0 : pasid;
}

static uint64_t get_field(uint64_t word, unsigned shift, unsigned len)
{
    return (word >> shift) & ((1ull << len) - 1);
}

static uint64_t put_field(uint64_t word, unsigned shift, unsigned len,
                          uint64_t v)
{
    uint64_t mask = ((1ull << len) - 1) << shift;

    return (word & ~mask) | ((v << shift) & mask);
}

#define set_field(word, f, v)   ((word) = put_field((word), f, (v)))
#define field(word, f)          get_field((word), f)

/* ---- the VM's memory: a window of GPAs, backed by this process ---- */

#define WIN_GPA             0x40000000ull
#define WIN_SIZE            (4u << 20)
#define CHUNK               (64u << 10)     /* the IOAS maps, and unmaps */
#define DATA_GPA            (WIN_GPA + (2u << 20))  /* 4 KiB data pages */
#define GRANULE             4096u
#define IOVA                0x10000000ull   /* stage-1 input of every CD */
#define UNMAPPED_IOVA       (IOVA + (2u << 20))
#define DMA_LEN             256u
#define VSID                0x42u
#define CD_SIZE             64u

static uint8_t *win;        /* host view of GPA WIN_GPA */
static uint64_t next_table = WIN_GPA, next_data = DATA_GPA;

static void *gpa_ptr(uint64_t gpa)
{
    return win + (gpa - WIN_GPA);
}

/* Zeroed guest memory for tables, @size bytes aligned to @align */
static uint64_t alloc_table(uint32_t size, uint32_t align)
{
    uint64_t gpa = (next_table + align - 1) & ~(uint64_t)(align - 1);

    if (gpa + size > DATA_GPA) {
        errno = ENOMEM;
        die("table memory", "the window's table area is full");
    }
    next_table = gpa + size;
    return gpa;
}

static uint64_t alloc_data_page(void)
{
    uint64_t gpa = next_data;

    if (gpa + GRANULE > WIN_GPA + WIN_SIZE) {
        errno = ENOMEM;
        die("data memory", "the window's data area is full");
    }
    next_data += GRANULE;
    return gpa;
}

static uint64_t load64(uint64_t gpa)
{
    uint64_t v;

    memcpy(&v, gpa_ptr(gpa), 8);
    return v;
}

/*
 * The VM's stores to its own tables: the SMMU's walks are coherent
 * (SMMU_IDR0.COHACC, write-back inner-shareable walk attributes in the
 * STE and CDs), so there is no cache to clean.
 */
static void store64(uint64_t gpa, uint64_t v)
{
    __atomic_store_n((uint64_t *)gpa_ptr(gpa), v, __ATOMIC_RELEASE);
}

/* ---- stage 1: 4 KiB granule, 39-bit input, walks start at level 1 ---- */

struct s1 {
    uint64_t ttb;       /* GPA of the level-1 table */
    uint16_t asid;
};

static void s1_init(struct s1 *s, uint16_t asid)
{
    s->ttb = alloc_table(GRANULE, GRANULE);
    s->asid = asid;
}

/* The GPA of @iova's level-3 entry, tables made on the way */
static uint64_t s1_leaf_slot(const struct s1 *s, uint64_t iova)
{
    uint64_t table = s->ttb, slot, pte;
    int level;

    for (level = 1; level < 3; level++) {
        slot = table + ((iova >> (39 - 9 * level)) & 511) * 8;
        pte = load64(slot);
        if (!field(pte, PTE_TYPE)) {
            pte = alloc_table(GRANULE, GRANULE);
            set_field(pte, PTE_TYPE, 3);
            store64(slot, pte);
        }
        table = pte & ADDR_MASK(12);
    }
    return table + ((iova >> 12) & 511) * 8;
}

static void s1_map(const struct s1 *s, uint64_t iova, uint64_t gpa)
{
    uint64_t pte = gpa & ADDR_MASK(12);

    set_field(pte, PTE_TYPE, 3);
    set_field(pte, PTE_AP, PTE_AP_RW_ANY);
    set_field(pte, PTE_SH, SH_INNER);
    set_field(pte, PTE_AF, 1);
    set_field(pte, PTE_NG, 1);
    store64(s1_leaf_slot(s, iova), pte);
}

/* A valid CD for @s at @cd: faults recorded (R) and terminated (A) */
static void cd_write(uint64_t cd, const struct s1 *s)
{
    uint64_t w0 = 0;

    set_field(w0, CD0_T0SZ, 64 - 39);
    set_field(w0, CD0_TG0, 0);              /* 4 KiB */
    set_field(w0, CD0_IR0, CACHE_WBRA);
    set_field(w0, CD0_OR0, CACHE_WBRA);
    set_field(w0, CD0_SH0, SH_INNER);
    set_field(w0, CD0_EPD1, 1);             /* no TTB1 */
    set_field(w0, CD0_IPS, IPS_44BIT);
    set_field(w0, CD0_AA64, 1);
    set_field(w0, CD0_R, 1);
    set_field(w0, CD0_A, 1);
    set_field(w0, CD0_ASET, 1);
    set_field(w0, CD0_ASID, s->asid);
    set_field(w0, CD0_V, 1);
    store64(cd + 8, s->ttb & ADDR_MASK(4));
    store64(cd + 24, 0xff);                 /* MAIR: attr 0 write-back */
    store64(cd, w0);                        /* V last */
}

/* ---- the VM's CD tables ---- */

struct cdtab {
    const char *name;
    unsigned fmt, cdmax;    /* STE.S1Fmt, STE.S1CDMax */
    uint64_t base;          /* S1ContextPtr */
};

static void cdtab_linear(struct cdtab *t, unsigned cdmax)
{
    t->name = "linear";
    t->fmt = STE_S1FMT_LINEAR;
    t->cdmax = cdmax;
    t->base = alloc_table(CD_SIZE << cdmax, GRANULE);
}

/* 2-level, 64 KiB leaves (1024 CDs each), allocated as SSIDs need them */
static void cdtab_2lvl(struct cdtab *t, unsigned cdmax)
{
    assert(cdmax >= 10);
    t->name = "2-level";
    t->fmt = STE_S1FMT_64K_L2;
    t->cdmax = cdmax;
    t->base = alloc_table(8u << (cdmax - 10), GRANULE);
}

/* The GPA of CD @ssid; a 2-level table's leaf is one IOAS chunk */
static uint64_t cdtab_cd(const struct cdtab *t, uint32_t ssid)
{
    uint64_t l1, desc;

    if (t->fmt == STE_S1FMT_LINEAR) {
        return t->base + ssid * CD_SIZE;
    }
    l1 = t->base + (ssid >> 10) * 8;
    desc = load64(l1);
    if (!(desc & 1)) {
        desc = alloc_table(CHUNK, CHUNK) | 1;   /* L2Ptr | V */
        store64(l1, desc);
    }
    return (desc & ADDR_MASK(12)) + (ssid & 1023) * CD_SIZE;
}

/* The VM's STE for the device: stage 1 through @t, untagged uses CD 0 */
static void vste_s1(const struct cdtab *t, uint64_t ste[2])
{
    ste[0] = t->base & ADDR_MASK(6);
    set_field(ste[0], STE0_V, 1);
    set_field(ste[0], STE0_CONFIG, STE_CONFIG_S1);
    set_field(ste[0], STE0_S1FMT, t->fmt);
    set_field(ste[0], STE0_S1CDMAX, t->cdmax);
    ste[1] = 0;
    set_field(ste[1], STE1_S1DSS, STE_S1DSS_SSID0);
    set_field(ste[1], STE1_S1CIR, CACHE_WBRA);
    set_field(ste[1], STE1_S1COR, CACHE_WBRA);
    set_field(ste[1], STE1_S1CSH, SH_INNER);
}

/* ---- the VMM: iommufd objects ---- */

struct vmm {
    struct testdev dev;
    uint32_t ioas, s2_hwpt, viommu, vdevice, veventq;
    int veventq_fd;
};

static void ioas_map_window(struct vmm *v)
{
    struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
    struct iommu_ioas_map map = { .size = sizeof(map) };
    uint32_t off;

    win = mmap(NULL, WIN_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (win == MAP_FAILED) {
        die("mmap", NULL);
    }
    if (ioctl(v->dev.iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
        die("IOMMU_IOAS_ALLOC", NULL);
    }
    v->ioas = alloc.out_ioas_id;
    /* In pieces, so that one piece can be taken away (step 8) */
    for (off = 0; off < WIN_SIZE; off += CHUNK) {
        map.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
                    IOMMU_IOAS_MAP_WRITEABLE;
        map.ioas_id = v->ioas;
        map.user_va = (uintptr_t)win + off;
        map.length = CHUNK;
        map.iova = WIN_GPA + off;
        if (ioctl(v->dev.iommufd, IOMMU_IOAS_MAP, &map)) {
            die("IOMMU_IOAS_MAP", NULL);
        }
    }
    say("ioas id=%u gpa=0x%llx size=0x%x", v->ioas, WIN_GPA, WIN_SIZE);
}

static void ioas_unmap(struct vmm *v, uint64_t gpa)
{
    struct iommu_ioas_unmap unmap = {
        .size = sizeof(unmap), .ioas_id = v->ioas,
        .iova = gpa & ~(uint64_t)(CHUNK - 1), .length = CHUNK,
    };

    if (ioctl(v->dev.iommufd, IOMMU_IOAS_UNMAP, &unmap)) {
        die("IOMMU_IOAS_UNMAP", NULL);
    }
    say("unmap gpa=0x%llx size=0x%x", (unsigned long long)unmap.iova, CHUNK);
}

static void vmm_create(struct vmm *v)
{
    struct iommu_hwpt_alloc s2 = { .size = sizeof(s2) };
    struct iommu_viommu_alloc viommu = { .size = sizeof(viommu) };
    struct iommu_vdevice_alloc vdev = { .size = sizeof(vdev) };
    struct iommu_veventq_alloc evq = { .size = sizeof(evq) };
    int fd = v->dev.iommufd;

    s2.flags = IOMMU_HWPT_ALLOC_NEST_PARENT;
    s2.dev_id = v->dev.dev_id;
    s2.pt_id = v->ioas;
    if (ioctl(fd, IOMMU_HWPT_ALLOC, &s2)) {
        die("IOMMU_HWPT_ALLOC (nest parent)", NULL);
    }
    v->s2_hwpt = s2.out_hwpt_id;

    viommu.type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3;
    viommu.dev_id = v->dev.dev_id;
    viommu.hwpt_id = v->s2_hwpt;
    if (ioctl(fd, IOMMU_VIOMMU_ALLOC, &viommu)) {
        die("IOMMU_VIOMMU_ALLOC", errno == EOPNOTSUPP ?
            "the SMMU needs stage 1 and 2 and FWB (arm-smmuv3.fwb=on)" :
            NULL);
    }
    v->viommu = viommu.out_viommu_id;

    vdev.viommu_id = v->viommu;
    vdev.dev_id = v->dev.dev_id;
    vdev.virt_id = VSID;
    if (ioctl(fd, IOMMU_VDEVICE_ALLOC, &vdev)) {
        die("IOMMU_VDEVICE_ALLOC", NULL);
    }
    v->vdevice = vdev.out_vdevice_id;

    evq.viommu_id = v->viommu;
    evq.type = IOMMU_VEVENTQ_TYPE_ARM_SMMUV3;
    evq.veventq_depth = 16;
    if (ioctl(fd, IOMMU_VEVENTQ_ALLOC, &evq)) {
        die("IOMMU_VEVENTQ_ALLOC", NULL);
    }
    v->veventq = evq.out_veventq_id;
    v->veventq_fd = evq.out_veventq_fd;
    say("vmm s2_hwpt=%u viommu=%u vdevice=%u vsid=0x%x veventq=%u",
        v->s2_hwpt, v->viommu, v->vdevice, VSID, v->veventq);
}

/* A nested HWPT for @ste: its ID, or 0 with errno */
static uint32_t nested_alloc(struct vmm *v, const uint64_t ste[2])
{
    struct iommu_hwpt_arm_smmuv3 data = { .ste = { ste[0], ste[1] } };
    struct iommu_hwpt_alloc hwpt = {
        .size = sizeof(hwpt), .dev_id = v->dev.dev_id, .pt_id = v->viommu,
        .data_type = IOMMU_HWPT_DATA_ARM_SMMUV3, .data_len = sizeof(data),
        .data_uptr = (uintptr_t)&data,
    };

    return ioctl(v->dev.iommufd, IOMMU_HWPT_ALLOC, &hwpt) ? 0 :
           hwpt.out_hwpt_id;
}

/* The device's DMA without PASID now goes through @hwpt */
static void attach(struct vmm *v, uint32_t hwpt)
{
    struct vfio_device_attach_iommufd_pt at = {
        .argsz = sizeof(at), .pt_id = hwpt,
    };

    if (ioctl(v->dev.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at)) {
        die("VFIO_DEVICE_ATTACH_IOMMUFD_PT", NULL);
    }
    say("attach hwpt=%u", hwpt);
}

/* The VM's invalidation command, passed through the vIOMMU */
static void viommu_invalidate(struct vmm *v, uint64_t cmd0, uint64_t cmd1)
{
    struct iommu_viommu_arm_smmuv3_invalidate cmd = { .cmd = { cmd0, cmd1 } };
    struct iommu_hwpt_invalidate inv = {
        .size = sizeof(inv), .hwpt_id = v->viommu,
        .data_uptr = (uintptr_t)&cmd,
        .data_type = IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
        .entry_len = sizeof(cmd), .entry_num = 1,
    };

    if (ioctl(v->dev.iommufd, IOMMU_HWPT_INVALIDATE, &inv)) {
        die("IOMMU_HWPT_INVALIDATE", NULL);
    }
    say("invalidate op=0x%02x cmd=0x%016llx,0x%016llx",
        (unsigned)field(cmd0, CMD0_OP), (unsigned long long)cmd0,
        (unsigned long long)cmd1);
}

static void cfgi_cd(struct vmm *v, uint32_t ssid)
{
    uint64_t c0 = 0, c1 = 0;

    set_field(c0, CMD0_OP, CMD_CFGI_CD);
    set_field(c0, CMD0_SSID, ssid);
    set_field(c0, CMD0_SID, VSID);
    set_field(c1, CMD1_LEAF, 1);
    viommu_invalidate(v, c0, c1);
}

/*
 * One page at @iova for @asid.  The VMID is the host's to fill in: the VM
 * writes a wrong one (VM_VMID), which must not reach the SMMU.
 */
#define VM_VMID             0x5a5
static void tlbi_nh_va(struct vmm *v, uint16_t asid, uint64_t iova)
{
    uint64_t c0 = 0, c1 = iova & ~(uint64_t)(GRANULE - 1);

    set_field(c0, CMD0_OP, CMD_TLBI_NH_VA);
    set_field(c0, CMD0_VMID, VM_VMID);
    set_field(c0, CMD0_ASID, asid);
    set_field(c1, CMD1_LEAF, 1);
    viommu_invalidate(v, c0, c1);
}

/*
 * The next vEVENT, waiting up to @ms: 1 with @evt filled, 0 if none came,
 * -1 if the queue could not be read or lost events.  Says "vevent ...".
 */
static int vevent_next(struct vmm *v, uint64_t evt[4], int ms)
{
    struct {
        struct iommufd_vevent_header hdr;
        struct iommu_vevent_arm_smmuv3 rec;
    } buf;
    struct pollfd pfd = { .fd = v->veventq_fd, .events = POLLIN };
    ssize_t n;

    n = poll(&pfd, 1, ms);
    if (n <= 0) {
        if (n < 0) {
            say("vevent poll failed: %s", strerror(errno));
        }
        return n;
    }
    n = read(v->veventq_fd, &buf, sizeof(buf));
    if (n != (ssize_t)sizeof(buf) ||
        (buf.hdr.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS)) {
        say("vevent read %zd bytes, flags=0x%x", n,
            n >= (ssize_t)sizeof(buf.hdr) ? buf.hdr.flags : 0);
        return -1;
    }
    memcpy(evt, buf.rec.evt, sizeof(buf.rec.evt));
    say("vevent seq=%u type=0x%02x sid=0x%x ssv=%u ssid=0x%x s2=%u "
        "addr=0x%llx", buf.hdr.sequence, (unsigned)field(evt[0], EVT0_TYPE),
        (unsigned)field(evt[0], EVT0_SID), (unsigned)field(evt[0], EVT0_SSV),
        (unsigned)field(evt[0], EVT0_SSID), (unsigned)field(evt[1], EVT1_S2),
        (unsigned long long)evt[2]);
    return 1;
}

/* ---- DMA and what it must change ---- */

/*
 * What the data area should hold: every page of it poisoned, but for the
 * pattern last written into a page (words pattern, pattern + 1, ...).
 */
#define POISON              0xa5
#define DATA_PAGES          ((WIN_GPA + WIN_SIZE - DATA_GPA) / GRANULE)
static uint32_t expected[DATA_PAGES];

/* Data page @p as the model says it should be, into @buf */
static void model_page(uint32_t p, uint8_t *buf)
{
    uint32_t i, w;

    memset(buf, POISON, GRANULE);
    for (i = 0; expected[p] && i < DMA_LEN; i += 4) {
        w = expected[p] + i / 4;
        memcpy(buf + i, &w, 4);
    }
}

/*
 * Does the data area match the model?  If not, it is put back as the
 * model says, so that one wrong DMA fails one check, not every later one.
 */
static int data_as_expected(void)
{
    uint8_t want[GRANULE];
    uint32_t p;
    int ok = 1;

    for (p = 0; p < DATA_PAGES; p++) {
        model_page(p, want);
        if (memcmp(gpa_ptr(DATA_GPA + p * GRANULE), want, GRANULE)) {
            memcpy(gpa_ptr(DATA_GPA + p * GRANULE), want, GRANULE);
            ok = 0;
        }
    }
    return ok;
}

/* @pasid's write of @pattern to IOVA lands in @gpa's page and nowhere else */
static void dma_lands(struct vmm *v, const char *what, uint32_t pasid,
                      uint32_t pattern, uint64_t gpa)
{
    uint32_t status;
    char tmp[16];

    status = testdev_dma(&v->dev, PASID_TESTDEV_OP_WRITE, IOVA, DMA_LEN,
                         pasid, pattern, NULL);
    expected[(gpa - DATA_GPA) / GRANULE] = pattern;
    check(status == R_STATUS_DONE_MASK && data_as_expected(), what,
          "pasid=%s status=0x%x at gpa=0x%llx, no other data page changed",
          pasid_str(pasid, tmp), status, (unsigned long long)gpa);
}

/* @pasid's write to @iova is refused and changes nothing */
static void dma_refused(struct vmm *v, const char *what, uint32_t pasid,
                        uint64_t iova)
{
    uint32_t status;
    char tmp[16];

    status = testdev_dma(&v->dev, PASID_TESTDEV_OP_WRITE, iova, DMA_LEN,
                         pasid, 0xdd000000, NULL);
    check((status & R_STATUS_ERROR_MASK) &&
          FIELD_EX32(status, STATUS, CAUSE) ==
          PASID_TESTDEV_CAUSE_WRITE_FAULT && data_as_expected(), what,
          "pasid=%s iova=0x%llx status=0x%x, no page changed",
          pasid_str(pasid, tmp), (unsigned long long)iova, status);
}

/*
 * The vEVENTQ's next record is @type for @pasid (or NO_PASID), with the
 * vSID, stage 1; for F_TRANSLATION at @addr.  The C_BAD_SUBSTREAMID
 * record has no SSV field (IHI 0070, 7.3.9).
 */
static void vevent_expect(struct vmm *v, const char *what, uint8_t type,
                          uint32_t pasid, uint64_t addr)
{
    unsigned ssv = pasid != NO_PASID && type != EVT_C_BAD_SUBSTREAMID;
    uint32_t ssid = ssid_of(pasid);
    uint64_t evt[4];
    int got = vevent_next(v, evt, 5000);

    check(got == 1 && field(evt[0], EVT0_TYPE) == type &&
          field(evt[0], EVT0_SID) == VSID && field(evt[0], EVT0_SSV) == ssv &&
          field(evt[0], EVT0_SSID) == ssid && !field(evt[1], EVT1_S2) &&
          (type != EVT_F_TRANSLATION || evt[2] == addr), what,
          "expected type=0x%02x sid=0x%x ssv=%u ssid=0x%x s2=0%s", type,
          VSID, ssv, ssid, got == 1 ? "" : ": no vEVENT in 5 s");
}

/* ---- the steps ---- */

/* A PASID (or NO_PASID) with its own stage 1 mapping IOVA to its page */
struct tag {
    uint32_t pasid;
    struct s1 s1;
    uint64_t page;
};

static void tag_setup(struct tag *g, const struct cdtab *t, uint32_t pasid,
                      uint16_t asid)
{
    uint64_t cd;
    char tmp[16];

    g->pasid = pasid;
    g->page = alloc_data_page();
    s1_init(&g->s1, asid);
    s1_map(&g->s1, IOVA, g->page);
    cd = cdtab_cd(t, ssid_of(pasid));
    cd_write(cd, &g->s1);
    say("map %s pasid=%s asid=%u cd=0x%llx ttb=0x%llx iova=0x%llx "
        "gpa=0x%llx", t->name, pasid_str(pasid, tmp), asid,
        (unsigned long long)cd, (unsigned long long)g->s1.ttb, IOVA,
        (unsigned long long)g->page);
}

static uint32_t attach_table(struct vmm *v, const struct cdtab *t)
{
    uint64_t ste[2];
    uint32_t hwpt;

    vste_s1(t, ste);
    hwpt = nested_alloc(v, ste);
    if (!hwpt) {
        die("IOMMU_HWPT_ALLOC (nested)", NULL);
    }
    say("nested %s hwpt=%u vste=0x%016llx,0x%016llx", t->name, hwpt,
        (unsigned long long)ste[0], (unsigned long long)ste[1]);
    attach(v, hwpt);
    return hwpt;
}

/*
 * @t with a stage 1 for each of @n tags (PASIDs or NO_PASID), ASIDs from
 * @asid, attached; each tag's write lands in its own page only.
 */
static void tags_land(struct vmm *v, const struct cdtab *t, struct tag *g,
                      const uint32_t *pasids, int n, uint16_t asid,
                      uint32_t pattern)
{
    char name[64], tmp[16];
    int i;

    for (i = 0; i < n; i++) {
        tag_setup(&g[i], t, pasids[i], asid + i);
    }
    attach_table(v, t);
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s_pasid_%s", t->name,
                 pasid_str(pasids[i], tmp));
        dma_lands(v, name, pasids[i], pattern + (i << 24), g[i].page);
    }
}

/* Step 2: vSTEs the kernel must refuse (arm_smmu_validate_vste()) */
static void illegal_vstes(struct vmm *v)
{
    static const struct {
        const char *name;
        unsigned word, shift, len;
        uint64_t value;
    } bad[] = {
        { "config_s2", 0, STE0_CONFIG, STE_CONFIG_S2 },
        { "config_nested", 0, STE0_CONFIG, STE_CONFIG_NESTED },
        { "reserved_bit_55", 0, 55, 1, 1 },
        { "eats_split_stage", 1, STE1_EATS, STE_EATS_SPLIT },
        { "strw_el2", 1, STE1_STRW, 2 },
    };
    struct cdtab t = { .fmt = STE_S1FMT_LINEAR, .base = WIN_GPA };
    uint64_t ste[2];
    uint32_t hwpt;
    unsigned i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vste_s1(&t, ste);
        ste[bad[i].word] = put_field(ste[bad[i].word], bad[i].shift,
                                     bad[i].len, bad[i].value);
        errno = 0;
        hwpt = nested_alloc(v, ste);
        check(!hwpt && errno == EIO, "vste_refused", "%s: %s",
              bad[i].name, hwpt ? "accepted" : strerror(errno));
    }
}

/* Step 4: @g's CD rewritten (ASID @asid): the old one until CMD_CFGI_CD */
static void cd_rewrite(struct vmm *v, const struct cdtab *t,
                       const struct tag *g, uint16_t asid)
{
    uint64_t page = alloc_data_page();
    struct s1 fresh;

    s1_init(&fresh, asid);
    s1_map(&fresh, IOVA, page);
    cd_write(cdtab_cd(t, ssid_of(g->pasid)), &fresh);
    say("rewrite cd pasid=%u asid=%u ttb=0x%llx gpa=0x%llx", g->pasid, asid,
        (unsigned long long)fresh.ttb, (unsigned long long)page);
    dma_lands(v, "cd_stale_before_cfgi", g->pasid, 0x27000000, g->page);
    cfgi_cd(v, ssid_of(g->pasid));
    dma_lands(v, "cd_new_after_cfgi", g->pasid, 0x37000000, page);
}

/* Step 5: @g's leaf entry rewritten: the old one until CMD_TLBI_NH_VA */
static void pte_rewrite(struct vmm *v, struct tag *g)
{
    uint64_t page = alloc_data_page();

    s1_map(&g->s1, IOVA, page);
    say("rewrite pte pasid=%u asid=%u iova=0x%llx gpa=0x%llx", g->pasid,
        g->s1.asid, IOVA, (unsigned long long)page);
    dma_lands(v, "pte_stale_before_tlbi", g->pasid, 0x21000000, g->page);
    tlbi_nh_va(v, g->s1.asid, IOVA);
    dma_lands(v, "pte_new_after_tlbi", g->pasid, 0x31000000, page);
    g->page = page;
}

/* Step 6: the VM's own faults come back through the vEVENTQ */
static void vm_faults(struct vmm *v, uint32_t mapped, uint32_t invalid_cd,
                      uint32_t beyond_cdmax)
{
    dma_refused(v, "s1_unmapped_refused", mapped, UNMAPPED_IOVA);
    vevent_expect(v, "vevent_f_translation", EVT_F_TRANSLATION, mapped,
                  UNMAPPED_IOVA);
    dma_refused(v, "invalid_cd_refused", invalid_cd, IOVA);
    vevent_expect(v, "vevent_c_bad_cd", EVT_C_BAD_CD, invalid_cd, 0);
    dma_refused(v, "ssid_beyond_cdmax_refused", beyond_cdmax, IOVA);
    vevent_expect(v, "vevent_c_bad_substreamid", EVT_C_BAD_SUBSTREAMID,
                  beyond_cdmax, 0);
}

/*
 * Step 8: the leaf holding the CD of @g[@gone] leaves the VM's memory (the
 * IOAS); CMD_CFGI_CD drops the CD the SMMU holds.  Its next DMA faults at
 * stage 2 fetching the CD: the host's fault, not in the vEVENTQ.  The
 * other tags of @g (@n in all), in other leaves, still land.
 */
static void s2_fault(struct vmm *v, const struct cdtab *t,
                     const struct tag *g, int n, int gone)
{
    char name[64], tmp[16];
    uint64_t evt[4];
    int i, got;

    ioas_unmap(v, cdtab_cd(t, g[gone].pasid));
    cfgi_cd(v, g[gone].pasid);
    dma_refused(v, "cd_fetch_s2_fault_refused", g[gone].pasid, IOVA);
    got = vevent_next(v, evt, 1000);
    check(got == 0, "s2_fault_not_in_veventq",
          "a stage-2 fault is the host's: %s", got == 0 ?
          "no vEVENT in 1 s" : "the vEVENTQ had a record or failed");
    for (i = 0; i < n; i++) {
        if (i == gone) {
            continue;
        }
        snprintf(name, sizeof(name), "%s_pasid_%s_after", t->name,
                 pasid_str(g[i].pasid, tmp));
        dma_lands(v, name, g[i].pasid, 0x50000000 + (i << 24), g[i].page);
    }
}

/*
 * Step 9: a vSTE with S1STALLD: the kernel passes it on, but the SMMU has
 * no stall model (SMMU_IDR0.STALL_MODEL 0b01), so the STE is ILLEGAL:
 * C_BAD_STE, the VM's to see.
 */
static void vste_s1stalld(struct vmm *v, const struct cdtab *t)
{
    uint64_t ste[2];
    uint32_t hwpt;

    vste_s1(t, ste);
    set_field(ste[1], STE1_S1STALLD, 1);
    hwpt = nested_alloc(v, ste);
    check(hwpt != 0, "vste_s1stalld_accepted", "hwpt=%u%s%s", hwpt,
          hwpt ? "" : ": ", hwpt ? "" : strerror(errno));
    if (hwpt) {
        attach(v, hwpt);
        dma_refused(v, "s1stalld_refused", NO_PASID, IOVA);
        vevent_expect(v, "vevent_c_bad_ste", EVT_C_BAD_STE, NO_PASID, 0);
    }
}

int main(int argc, char **argv)
{
    static const uint32_t lin_tags[] = { NO_PASID, 1, 7, 15 };
    static const uint32_t l2_tags[] = { NO_PASID, 1, 0x401, 0xfffff };
    struct tag lt[4], qt[4];    /* in those orders */
    struct cdtab lin, l2;
    struct vmm v;

    if (argc != 2) {
        fprintf(stderr, "usage: %s BDF\n", argv[0]);
        return 2;
    }

    /* 1. The device, the VM's memory, the vIOMMU */
    testdev_open(&v.dev, argv[1]);
    ioas_map_window(&v);
    data_as_expected();     /* poisons the data area */
    vmm_create(&v);

    illegal_vstes(&v);                                      /* 2 */
    cdtab_linear(&lin, 4);                                  /* 3 */
    tags_land(&v, &lin, lt, lin_tags, 4, 1, 0x10000000);
    cd_rewrite(&v, &lin, &lt[2], 5);                        /* 4 */
    pte_rewrite(&v, &lt[1]);                                /* 5 */
    vm_faults(&v, 15, 3, 16);                               /* 6 */
    cdtab_2lvl(&l2, 20);                                    /* 7 */
    tags_land(&v, &l2, qt, l2_tags, 4, 11, 0x40000000);
    s2_fault(&v, &l2, qt, 4, 2);                            /* 8 */
    vste_s1stalld(&v, &l2);                                 /* 9 */
    return finish();
}
