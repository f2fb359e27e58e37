# shellcheck shell=sh disable=SC2154  # dev: set by init
# "pasidtest=vsmmu" (sourced by tests/guest/init): vsmmu plays a VMM with
# iommufd's nested vSMMU uAPI on the test device, each of its lines a
# marker "@@ vsmmu <line>"; then the SMMU's kernel messages (the stage-2
# fault is the host's) as "@@ vsmmu_dmesg <line>".
base=$(dmesg | wc -l)
if [ -z "$dev" ]; then
    mark vsmmu "result fail: no test device"
elif [ ! -x /bin/vsmmu ]; then
    mark vsmmu "result fail: /bin/vsmmu missing from the initramfs"
else
    /bin/vsmmu "$(basename "$dev")" 2>&1 | mark_lines vsmmu
    # The stage-2 fault on the CD fetch: F_TRANSLATION, in the host's log
    wait_events 0x10
fi
mark_dmesg_since "$base" vsmmu_dmesg 'smmu|iommu|vfio'
finish
