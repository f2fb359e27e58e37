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
    # environment and pick the two PASIDs; vfio_ats=1 the ATS mode.
    ats=
    [ "${vfio_ats:-0}" = 1 ] && ats=--ats
    # shellcheck disable=SC2086  # $ats: no word or one
    /bin/vfio-pasid $ats "$(basename "$dev")" "${pasid_a:-0x100}" \
        "${pasid_b:-0xfffff}" "$during" 2>&1 | mark_lines vfio
    # The refused DMAs raised two events (C_BAD_CD, F_TRANSLATION); a
    # Translation Request records none
    [ -n "$ats" ] || wait_events 0x0a 0x10
    mark_dmesg_since "$base" vfio_dmesg 'smmu|iommu|vfio'
fi
finish
