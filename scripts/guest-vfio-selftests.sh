#!/bin/bash
# Linux's VFIO selftests (tools/testing/selftests/vfio of the guest
# kernel's source, build-kernel.sh) in the guest, on the test device with
# MSI-X bound to vfio-pci: every binary, those that take an IOMMU mode in
# each mode the kernel offers, and vfio_pci_driver_test making real DMA
# through the SMMU with our libvfio driver
# (tests/guest/vfio-selftests/pasid_testdev.c).
# Checked: every binary's closing counts as it prints them (no failure),
# the DMA cases of vfio_pci_driver_test passed in each mode, and from
# QEMU's side that the copies from and to unmapped IOVAs faulted in the
# SMMU (F_TRANSLATION for the device, untagged) and the MSIs were sent.
#   guest-vfio-selftests.sh [--ssidsize N]
# Logs in $BUILD_DIR/test-logs/guest-vfio-selftests-ssidsizeN/;
# GUEST_TIMEOUT (900 s).
set -uo pipefail
GUEST_TIMEOUT=${GUEST_TIMEOUT:-900}     # before guest-lib.sh's default
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/guest-lib.sh"

ssidsize=20
while [ $# -gt 0 ]; do
    case "$1" in
    --ssidsize) ssidsize=$2; shift 2;;
    *) die "usage: $0 [--ssidsize N]";;
    esac
done
guest_env "$KERNEL_DIR/guest.env" kernel
# What tests/guest/kernel/iommufd.config enables: VFIO groups with the
# type1 container and with iommufd's compat container, and the cdev
MODES=(vfio_type1_iommu vfio_type1v2_iommu iommufd_compat_type1
       iommufd_compat_type1v2 iommufd)
DMA_CASES=(memcpy_success memcpy_from_unmapped_iova memcpy_to_unmapped_iova
           send_msi mix_and_match memcpy_storm)
TRACE_EVENTS=(smmuv3_record_event pasid_testdev_run pasid_testdev_done
              pasid_testdev_msi)
# 3 GiB: vfio_pci_driver_test pins a 1 GiB buffer, and one 1 GiB and
# eight 2 MiB huge pages are set aside at boot for vfio_dma_mapping_test's
# hugetlb variants.  GICv3 with its ITS: MSIs are isolated, which VFIO
# requires before user space may own a device.
MACHINE_OPTS=,gic-version=3 GUEST_MEM=3G
guest_boot "$BUILD_DIR/test-logs/guest-vfio-selftests-ssidsize$ssidsize" "$ssidsize" \
    "pasidtest=vfio-selftests hugepagesz=1G hugepages=1 hugepagesz=2M hugepages=8" \
    -device "pcie-pasid-testdev,addr=$TESTDEV_ADDR,msix-vectors=2"

# --- what the guest reported -------------------------------------------
echo "== checks: Linux's VFIO selftests on the test device (ssidsize=$ssidsize)"
drv=$(markers kselftest | sed -n 's/^driver //p' | head -n 1)
ok=0; [ "$drv" = vfio-pci ] && ok=1
check "vfio-pci owns the test device" $ok "driver: ${drv:-none}"

# ksft NAME: the lines binary NAME printed
ksft() { markers kselftest | sed -n "s/^$1 //p"; }
# All the binaries build-kernel.sh installed reported
mapfile -t bins < <(markers kselftest | sed -n 's/^\(vfio_[a-z0-9_]*_test\) .*/\1/p' | uniq)
mapfile -t built < <(find "$KERNEL_DIR/initramfs-extra/bin/vfio-selftests" -name 'vfio_*_test' \
                         -printf '%f\n' 2>/dev/null | sort)
ok=0; [ ${#built[@]} -gt 0 ] && [ "${bins[*]}" = "${built[*]}" ] && ok=1
check "the suite's binaries ran" $ok "ran: ${bins[*]:-none}; built: ${built[*]:-none}"
# Each binary as the suite counts it: something passed, nothing failed
for b in "${bins[@]}"; do
    out=$(ksft "$b")
    totals=$(sed -n 's/^# Totals: //p' <<< "$out" | tail -n 1)
    rc=$(sed -n 's/^exit //p' <<< "$out" | tail -n 1)
    fails=$(sed -n 's/^not ok [0-9]* \([^ ]*\).*/\1/p' <<< "$out" | paste -sd' ')
    skips=$(sed -n 's/^ok [0-9]* \([^ ]*\) # SKIP *\(.*\)/\1 (\2)/p' <<< "$out" | sort -u -t'(' -k2 | head -n 3 | paste -sd';')
    ok=0
    [[ -n "$totals" && "$totals" != "pass:0 "* && "$totals" == *" fail:0 "* &&
        "$totals" == *" error:0"* && "$rc" = 0 ]] && ok=1
    check "$b" $ok "${totals:-no Totals line}, exit ${rc:-?}${fails:+; failed: $fails}${skips:+; skipped e.g. $skips}"
done

# vfio_pci_driver_test's DMA cases, in each mode: passed, not skipped
driver_out=$(ksft vfio_pci_driver_test)
for m in "${MODES[@]}"; do
    missing=()
    for c in "${DMA_CASES[@]}"; do
        grep -qx "ok [0-9]* vfio_pci_driver_test\.$m\.$c" <<< "$driver_out" ||
            missing+=("$c")
    done
    ok=0; [ ${#missing[@]} = 0 ] && ok=1
    check "DMA with our driver: $m" $ok \
        "$([ $ok = 1 ] && echo "${DMA_CASES[*]}" || echo "not passed: ${missing[*]}")"
done

# --- what QEMU saw --------------------------------------------------------
# Each copy the driver reported failed (cause 3: a read, 4: a write) was
# refused by the SMMU: F_TRANSLATION records for the device's StreamID,
# without SubstreamID, between its doorbell and its end.
read -r nread nwrite nbad < <(awk -v sid="$TESTDEV_SID" '
    /^pasid_testdev_run / { f = 0 }
    /^smmuv3_record_event SMMU_EVT_F_TRANSLATION / && $0 ~ "sid=" sid " ssv=0 " { f++ }
    /^pasid_testdev_done / && / cause [34] / {
        if (/ cause 3 /) r++; else w++
        if (!f) bad++
    }
    END { print r + 0, w + 0, bad + 0 }' "$trace")
ok=0; [ "$nread" -ge ${#MODES[@]} ] && [ "$nwrite" -ge ${#MODES[@]} ] && [ "$nbad" = 0 ] && ok=1
check "refused copies faulted in the SMMU" $ok \
    "$nread copies from and $nwrite to unmapped IOVAs, $nbad of them without an F_TRANSLATION record"
nmsi=$(grep -c '^pasid_testdev_msi vector 0 MSI-X enabled 1' "$trace")
# send_msi once, mix_and_match ten times, in each mode
ok=0; [ "$nmsi" -ge $((11 * ${#MODES[@]})) ] && ok=1
check "MSIs signalled by the device" $ok "$nmsi on vector 0 with MSI-X enabled (their delivery: send_msi's eventfd in the guest)"

guest_finish
