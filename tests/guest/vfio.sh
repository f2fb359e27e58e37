# shellcheck shell=sh disable=SC2154  # dev: set by init
# "pasidtest=vfio" (sourced by tests/guest/init): vfio-pasid does the work,
# each of its lines a marker "@@ vfio <line>"; while it holds the test
# device, it has the virtio-blk disk hashed (other DMA through the same
# SMMU).  Then the SMMU's kernel messages as "@@ vfio_dmesg <line>".
if [ -z "$dev" ]; then
    mark vfio "result fail: no test device"
elif [ ! -x /bin/vfio-pasid ]; then
    mark vfio "result fail: /bin/vfio-pasid missing from the initramfs"
else
    # O_DIRECT: init has hashed the disk already, the page cache holds it
    during="echo no disk"
    [ -b /dev/vda ] &&
        during="dd if=/dev/vda bs=64k iflag=direct 2>/dev/null | sha256sum"
    base=$(dmesg | wc -l)
    # pasid_a=N pasid_b=M on the kernel command line reach init's
    # environment and pick the two PASIDs.
    /bin/vfio-pasid "$(basename "$dev")" "${pasid_a:-0x100}" \
        "${pasid_b:-0xfffff}" "$during" 2>&1 | mark_lines vfio
    # The refused DMAs raised two events (C_BAD_CD 0x0a, F_TRANSLATION
    # 0x10); the kernel's event thread prints them when it gets to run.
    i=0
    while [ $i -lt 100 ] &&
            ! { dmesg | grep -q 'event 0x0a received' &&
                dmesg | grep -q 'event 0x10 received'; }; do
        sleep 0.1; i=$((i + 1))
    done
    dmesg | tail -n +$((base + 1)) | grep -iE 'smmu|iommu|vfio' |
        grep -v '@@ ' | mark_lines vfio_dmesg
fi
mark "done"
sync
poweroff -f
