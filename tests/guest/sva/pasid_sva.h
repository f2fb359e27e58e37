/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The interface of pasid_sva.ko (tests/guest/sva/pasid_sva.c) to user
 * space: /dev/pasid-sva and its ioctls.  Shared by the driver and the test
 * program tests/guest/sva-test.c.
 */
#ifndef PASID_SVA_H
#define PASID_SVA_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* What the bond made at open() is */
struct pasid_sva_info {
	__u32 pasid;            /* the PASID Linux gave this address space */
	__u32 pad;
	__u64 pgd_phys;         /* its page-table root (what CD.TTB0 holds) */
};

/*
 * One transfer of the device's DMA engine on user virtual addresses,
 * tagged with the bond's PASID.  op: PASID_TESTDEV_OP_COPY (src -> dst),
 * _READ (src, checksum) or _WRITE (the pattern sequence to dst); len: 4 to
 * PASID_TESTDEV_MAX_LEN, a multiple of 4 (else EINVAL).  On return (also
 * with EIO, a failed transfer, ETIMEDOUT and EBUSY, an earlier transfer
 * still running) status and checksum hold the device's STATUS and
 * CHECKSUM registers.
 */
struct pasid_sva_dma {
	__u64 src;
	__u64 dst;
	__u32 len;
	__u32 op;
	__u32 pattern;
	__u32 flags;
	__u32 pasid;            /* with PASID_SVA_DMA_PASID only */
	__u32 status;           /* out */
	__u32 checksum;         /* out */
	__u32 pad;
};

/*
 * Tag the transfer with @pasid instead of the bond's (CAP_SYS_ADMIN): for
 * tests of what a PASID whose process has gone now does.
 */
#define PASID_SVA_DMA_PASID     (1u << 0)

#define PASID_SVA_IOC_INFO      _IOR('P', 0x60, struct pasid_sva_info)
#define PASID_SVA_IOC_DMA       _IOWR('P', 0x61, struct pasid_sva_dma)

#endif
