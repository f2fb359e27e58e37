# shellcheck shell=sh disable=SC2154  # dev, seen: set by init
# "pasidtest=vfio" (sourced by tests/guest/init): the iommufd/VFIO PASID
# test.  vfio-pasid (tests/guest/vfio-pasid.c, cross-compiled by
# scripts/build-kernel.sh) does the work; each of its output lines
# becomes a marker "@@ vfio <line>", then the SMMU's messages from the
# kernel log follow as "@@ vfio_dmesg <line>".
if [ -z "$dev" ]; then
    mark vfio "result fail: no test device"
elif [ ! -x /bin/vfio-pasid ]; then
    mark vfio "result fail: /bin/vfio-pasid missing from the initramfs"
else
    bdf=$(basename "$dev")
    # pasid_a=N pasid_b=M on the kernel command line reach init's
    # environment and pick the two PASIDs.
    /bin/vfio-pasid "$bdf" "${pasid_a:-0x100}" "${pasid_b:-0xfffff}" 2>&1 |
        mark_lines vfio
    # Let the event thread print the records of the refused DMA
    sleep 1
    dmesg | grep -iE 'smmu|iommu|vfio' | grep -v '@@ ' | tail -n +$((seen + 1)) |
        mark_lines vfio_dmesg
fi
mark "done"
sync
poweroff -f
