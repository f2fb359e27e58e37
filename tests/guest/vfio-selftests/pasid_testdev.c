// SPDX-License-Identifier: GPL-2.0-only
/*
 * libvfio driver for QEMU's pcie-pasid-testdev (1b36:0015), so that the
 * VFIO selftests (tools/testing/selftests/vfio) make real DMA through an
 * IOMMU with it.  build-kernel.sh drops it into the selftests as
 * lib/drivers/pasid_testdev/ and lists it in lib/vfio_pci_driver.c.
 *
 * The device copies LEN bytes from SRC to DST, REPEAT times, for one
 * doorbell; its registers come from QEMU's one definition of them,
 * include/hw/misc/pcie-pasid-testdev.h, and the model is described in
 * QEMU's docs/specs/pcie-pasid-testdev.rst.  The device needs MSI-X
 * (msix-vectors >= 1) for send_msi.
 *
 * Copyright (c) 2026 The SMMUv3 PASID authors
 */
#include <time.h>
#include <unistd.h>

#include <linux/io.h>
#include <linux/pci_regs.h>

#include <libvfio.h>

#include "hw/misc/pcie-pasid-testdev.h"

#define PCI_VENDOR_ID_REDHAT            0x1b36
#define PCI_DEVICE_ID_REDHAT_PASID_TEST 0x0015

/*
 * A memcpy_storm (max_memcpy_count copies of max_memcpy_size in one
 * doorbell) must end well within the test's 60 s under TCG on a busy
 * host: 32 copies of 4 MiB.
 */
#define PASID_TESTDEV_STORM_COPIES      32
/*
 * A doorbell that does not complete in this long is a hang (the storm's
 * test gives up at 60 s, the others at 30 s)
 */
#define PASID_TESTDEV_WAIT_S            55

static void *pasid_testdev_bar0(struct vfio_pci_device *device)
{
	return device->bars[0].vaddr;
}

static u32 pasid_testdev_readl(struct vfio_pci_device *device, u32 reg)
{
	return readl(pasid_testdev_bar0(device) + reg);
}

static void pasid_testdev_writel(struct vfio_pci_device *device, u32 reg,
				 u32 val)
{
	writel(val, pasid_testdev_bar0(device) + reg);
}

/* The test device, with its registers in BAR 0 and an MSI-X vector */
static int pasid_testdev_probe(struct vfio_pci_device *device)
{
	if (!vfio_pci_device_match(device, PCI_VENDOR_ID_REDHAT,
				   PCI_DEVICE_ID_REDHAT_PASID_TEST))
		return -EINVAL;
	if (!pasid_testdev_bar0(device) ||
	    pasid_testdev_readl(device, A_ID) != PASID_TESTDEV_MAGIC)
		return -EINVAL;
	if (!device->msix_info.count)
		return -EINVAL;
	return 0;
}

/* STATUS once the engine is idle: a run still going after a while is a hang */
static u32 pasid_testdev_wait_idle(struct vfio_pci_device *device)
{
	struct timespec start, now;
	u32 status;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		status = pasid_testdev_readl(device, A_STATUS);
		if (!(status & R_STATUS_BUSY_MASK))
			return status;
		clock_gettime(CLOCK_MONOTONIC, &now);
		VFIO_ASSERT_LT(now.tv_sec - start.tv_sec, PASID_TESTDEV_WAIT_S,
			       "pcie-pasid-testdev busy for %d s\n",
			       PASID_TESTDEV_WAIT_S);
		usleep(100);
	}
}

static void pasid_testdev_init(struct vfio_pci_device *device)
{
	struct vfio_pci_driver *driver = &device->driver;
	u16 cmd = vfio_pci_config_readw(device, PCI_COMMAND);

	vfio_pci_config_writew(device, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY |
			       PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	/* A run a previous user left going must not land in our memory */
	pasid_testdev_wait_idle(device);

	/* The device needs no memory of its own: driver->region stays unused */
	driver->max_memcpy_size = PASID_TESTDEV_MAX_LEN;
	driver->max_memcpy_count = PASID_TESTDEV_STORM_COPIES;
	driver->msi = 0;
	vfio_pci_msix_enable(device, driver->msi, 1);
}

static void pasid_testdev_remove(struct vfio_pci_device *device)
{
	vfio_pci_msix_disable(device);
}

/* One doorbell: @count copies of @size bytes, untagged, no interrupt */
static void pasid_testdev_memcpy_start(struct vfio_pci_device *device,
				       iova_t src, iova_t dst, u64 size,
				       u64 count)
{
	/* The engine moves whole 32-bit words */
	VFIO_ASSERT_EQ(size & 3, 0, "size %llu\n", (unsigned long long)size);

	pasid_testdev_writel(device, A_SRC_LO, src);
	pasid_testdev_writel(device, A_SRC_HI, src >> 32);
	pasid_testdev_writel(device, A_DST_LO, dst);
	pasid_testdev_writel(device, A_DST_HI, dst >> 32);
	pasid_testdev_writel(device, A_LEN, size);
	pasid_testdev_writel(device, A_REPEAT, count);
	pasid_testdev_writel(device, A_CTRL,
			     PASID_TESTDEV_CTRL(PASID_TESTDEV_OP_COPY, 0));
	pasid_testdev_writel(device, A_DOORBELL, 1);
}

/*
 * 0 once every copy went through; -1 if any access failed (the IOMMU
 * refused it: STATUS.ERROR, CAUSE says whether a read or a write).
 */
static int pasid_testdev_memcpy_wait(struct vfio_pci_device *device)
{
	u32 status = pasid_testdev_wait_idle(device);

	VFIO_ASSERT_TRUE(status & R_STATUS_DONE_MASK, "STATUS 0x%x\n", status);
	if (!(status & R_STATUS_ERROR_MASK))
		return 0;
	fprintf(stderr, "pcie-pasid-testdev: %u of the copies failed, "
		"the first with cause %u\n",
		pasid_testdev_readl(device, A_FAILED),
		(status & R_STATUS_CAUSE_MASK) >> R_STATUS_CAUSE_SHIFT);
	return -1;
}

static void pasid_testdev_send_msi(struct vfio_pci_device *device)
{
	pasid_testdev_writel(device, A_MSI_SEND, device->driver.msi);
}

struct vfio_pci_driver_ops pasid_testdev_ops = {
	.name = "pcie-pasid-testdev",
	.probe = pasid_testdev_probe,
	.init = pasid_testdev_init,
	.remove = pasid_testdev_remove,
	.memcpy_start = pasid_testdev_memcpy_start,
	.memcpy_wait = pasid_testdev_memcpy_wait,
	.send_msi = pasid_testdev_send_msi,
};
