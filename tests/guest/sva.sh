# shellcheck shell=sh disable=SC2154  # dev: set by init
# "pasidtest=sva" (sourced by tests/guest/init): load pasid_sva.ko (the SVA
# driver of the test device, tests/guest/sva/) and run sva-test, each of
# its lines a marker "@@ sva <line>"; then what the kernel said about the
# SMMU and the driver as "@@ sva_dmesg <line>".
base=$(dmesg | wc -l)
if [ -z "$dev" ]; then
    mark sva "result fail: no test device"
elif [ ! -x /bin/sva-test ] || [ ! -f /lib/sva/pasid_sva.ko ]; then
    mark sva "result fail: sva-test or pasid_sva.ko missing from the initramfs"
elif ! insmod /lib/sva/pasid_sva.ko; then
    mark sva "result fail: insmod pasid_sva.ko"
else
    /bin/sva-test > /sva.out 2>&1
    mark_lines sva < /sva.out
    # The gone PASID's DMA raised a C_BAD_CD
    ! grep -q '^result pass' /sva.out || wait_events 0x0a
fi
mark_dmesg_since "$base" sva_dmesg 'smmu|iommu|pasid_sva'
finish
