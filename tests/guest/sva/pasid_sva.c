// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pasid_sva: shared virtual addressing (SVA) on QEMU's pcie-pasid-testdev
 *
 * A test driver.  Opening /dev/pasid-sva binds the calling process's
 * address space to the test device (iommu_sva_bind_device()); the DMA
 * ioctl runs the device's engine on the process's own virtual addresses,
 * tagged with the PASID of that bond, so that the SMMU translates them
 * through the process's page tables.  The driver never pins or translates
 * a user page: a buffer that is not mapped, or not present (there are no
 * I/O page faults here), makes the transfer fail, and user space gets EIO
 * with the device's STATUS.  Closing the file (or the process exiting)
 * unbinds.
 *
 * The device has no interrupt: the driver polls STATUS, for a bounded time.
 */

#include <linux/cred.h>
#include <linux/iommu.h>
#include <linux/iopoll.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "hw/misc/pcie-pasid-testdev.h"
#include "pasid_sva.h"

/* A 4 MiB transfer takes about a second under TCG; this is ten times that */
#define PASID_SVA_TIMEOUT_US	(10 * USEC_PER_SEC)

struct pasid_sva_dev {
	struct pci_dev *pdev;
	void __iomem *regs;
	struct mutex lock;	/* the engine runs one transfer at a time */
	struct miscdevice misc;
};

/* One open file: a process's address space bound to the device */
struct pasid_sva_bond {
	struct pasid_sva_dev *dev;
	struct iommu_sva *sva;
	struct mm_struct *mm;	/* grabbed: only the bound process may DMA */
	u32 pasid;
};

static int pasid_sva_open(struct inode *inode, struct file *file)
{
	struct pasid_sva_dev *d = container_of(file->private_data,
					       struct pasid_sva_dev, misc);
	struct pasid_sva_bond *b;
	int ret;

	if (!current->mm)
		return -EINVAL;
	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->sva = iommu_sva_bind_device(&d->pdev->dev, current->mm);
	if (IS_ERR(b->sva)) {
		ret = PTR_ERR(b->sva);
		dev_info(&d->pdev->dev, "pid %d: SVA bind refused (%d)\n",
			 current->pid, ret);
		kfree(b);
		return ret;
	}
	b->dev = d;
	b->pasid = iommu_sva_get_pasid(b->sva);
	b->mm = current->mm;
	mmgrab(b->mm);
	file->private_data = b;
	dev_info(&d->pdev->dev, "pid %d bound to PASID %#x\n", current->pid,
		 b->pasid);
	return 0;
}

/* Wait until the engine is idle; the caller holds d->lock */
static int pasid_sva_idle(struct pasid_sva_dev *d, u32 *status)
{
	return readl_poll_timeout(d->regs + A_STATUS, *status,
				  !(*status & R_STATUS_BUSY_MASK), 20,
				  PASID_SVA_TIMEOUT_US);
}

static int pasid_sva_release(struct inode *inode, struct file *file)
{
	struct pasid_sva_bond *b = file->private_data;
	struct pasid_sva_dev *d = b->dev;
	u32 status;
	int busy;

	/* No DMA with the PASID may outlive the bond: it may be reused */
	mutex_lock(&d->lock);
	busy = pasid_sva_idle(d, &status);
	mutex_unlock(&d->lock);
	if (busy) {
		dev_err(&d->pdev->dev, "PASID %#x: device still busy, left bound\n",
			b->pasid);
		return 0;
	}
	dev_info(&d->pdev->dev, "PASID %#x unbound\n", b->pasid);
	iommu_sva_unbind_device(b->sva);
	mmdrop(b->mm);
	kfree(b);
	return 0;
}

static bool pasid_sva_dma_valid(const struct pasid_sva_dma *r)
{
	if (r->len < 4 || r->len > PASID_TESTDEV_MAX_LEN || r->len % 4)
		return false;
	if (r->flags & ~PASID_SVA_DMA_PASID)
		return false;
	return r->op == PASID_TESTDEV_OP_COPY || r->op == PASID_TESTDEV_OP_READ ||
	       r->op == PASID_TESTDEV_OP_WRITE;
}

static void pasid_sva_write64(struct pasid_sva_dev *d, u32 lo, u64 val)
{
	writel(lower_32_bits(val), d->regs + lo);
	writel(upper_32_bits(val), d->regs + lo + 4);
}

/*
 * One transfer, tagged with @pasid; the caller holds d->lock.  Returns 0,
 * -EIO when the device reports an error, -ETIMEDOUT or -EBUSY.
 */
static int pasid_sva_run(struct pasid_sva_dev *d, struct pasid_sva_dma *r,
			 u32 pasid)
{
	u32 status = readl(d->regs + A_STATUS);
	int ret = -EBUSY;	/* an earlier transfer timed out */

	if (!(status & R_STATUS_BUSY_MASK)) {
		pasid_sva_write64(d, A_SRC_LO, r->src);
		pasid_sva_write64(d, A_DST_LO, r->dst);
		writel(r->len, d->regs + A_LEN);
		writel(pasid, d->regs + A_PASID);
		writel(PASID_TESTDEV_CTRL(r->op, true), d->regs + A_CTRL);
		writel(1, d->regs + A_REPEAT);
		writel(0, d->regs + A_PASID_CNT);
		writel(r->pattern, d->regs + A_PATTERN);
		writel(1, d->regs + A_DOORBELL);
		ret = pasid_sva_idle(d, &status);
	}
	r->status = status;
	r->checksum = readl(d->regs + A_CHECKSUM);
	if (ret)
		return ret;
	/* Done without an error is the only success */
	return (status & (R_STATUS_DONE_MASK | R_STATUS_ERROR_MASK)) ==
	       R_STATUS_DONE_MASK ? 0 : -EIO;
}

static long pasid_sva_dma(struct pasid_sva_bond *b, void __user *arg)
{
	struct pasid_sva_dev *d = b->dev;
	struct pasid_sva_dma r;
	u32 pasid = b->pasid;
	int ret;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	if (!pasid_sva_dma_valid(&r))
		return -EINVAL;
	if (r.flags & PASID_SVA_DMA_PASID) {
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		pasid = r.pasid;
	}
	if (mutex_lock_interruptible(&d->lock))
		return -EINTR;
	ret = pasid_sva_run(d, &r, pasid);
	mutex_unlock(&d->lock);
	if (ret == -EIO || ret == -ETIMEDOUT)
		dev_info(&d->pdev->dev,
			 "PASID %#x op %u %#llx -> %#llx len %#x: STATUS %#x (%d)\n",
			 pasid, r.op, r.src, r.dst, r.len, r.status, ret);
	if (copy_to_user(arg, &r, sizeof(r)))
		return -EFAULT;
	return ret;
}

static long pasid_sva_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct pasid_sva_bond *b = file->private_data;
	struct pasid_sva_info info = { .pasid = b->pasid };

	/* A child that inherited the file would DMA into its parent */
	if (current->mm != b->mm)
		return -EPERM;
	switch (cmd) {
	case PASID_SVA_IOC_INFO:
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		info.pgd_phys = virt_to_phys(b->mm->pgd);
		return copy_to_user((void __user *)arg, &info, sizeof(info)) ?
		       -EFAULT : 0;
	case PASID_SVA_IOC_DMA:
		return pasid_sva_dma(b, (void __user *)arg);
	}
	return -ENOTTY;
}

static const struct file_operations pasid_sva_fops = {
	.owner = THIS_MODULE,
	.open = pasid_sva_open,
	.release = pasid_sva_release,
	.unlocked_ioctl = pasid_sva_ioctl,
};

static int pasid_sva_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct pasid_sva_dev *d;
	int ret;

	d = devm_kzalloc(&pdev->dev, sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	d->regs = pcim_iomap_region(pdev, 0, "pasid_sva");
	if (IS_ERR(d->regs))
		return PTR_ERR(d->regs);
	if (readl(d->regs + A_ID) != PASID_TESTDEV_MAGIC)
		return -ENODEV;
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	pci_set_master(pdev);
	d->pdev = pdev;
	mutex_init(&d->lock);
	d->misc.minor = MISC_DYNAMIC_MINOR;
	d->misc.name = "pasid-sva";
	d->misc.fops = &pasid_sva_fops;
	d->misc.parent = &pdev->dev;
	ret = misc_register(&d->misc);
	if (ret)
		return ret;
	pci_set_drvdata(pdev, d);
	return 0;
}

static void pasid_sva_remove(struct pci_dev *pdev)
{
	struct pasid_sva_dev *d = pci_get_drvdata(pdev);

	misc_deregister(&d->misc);
}

static const struct pci_device_id pasid_sva_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT, 0x0015) },	/* pcie-pasid-testdev */
	{ }
};
MODULE_DEVICE_TABLE(pci, pasid_sva_ids);

/*
 * Open files point at the device: no unbinding through sysfs (and the
 * kernel has no module unloading), only a hot-unplug would remove it.
 */
static struct pci_driver pasid_sva_driver = {
	.driver.suppress_bind_attrs = true,
	.name = "pasid_sva",
	.id_table = pasid_sva_ids,
	.probe = pasid_sva_probe,
	.remove = pasid_sva_remove,
};
module_pci_driver(pasid_sva_driver);

MODULE_DESCRIPTION("SVA test driver for QEMU's pcie-pasid-testdev");
MODULE_LICENSE("GPL");
