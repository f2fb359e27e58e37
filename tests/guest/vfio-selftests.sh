# shellcheck shell=sh disable=SC2154  # dev: set by init
# "pasidtest=vfio-selftests" (sourced by tests/guest/init): Linux's VFIO
# selftests (built by build-kernel.sh into /bin/vfio-selftests) on the
# test device, bound to vfio-pci; every line a binary prints, then its
# exit status, as a marker "@@ kselftest <binary> <line>".
if [ -z "$dev" ]; then
    mark kselftest "none no test device"
else
    bdf=$(basename "$dev")
    [ ! -e "$dev/driver" ] || echo "$bdf" > "$dev/driver/unbind"
    echo vfio-pci > "$dev/driver_override"
    echo "$bdf" > /sys/bus/pci/drivers_probe
    mark kselftest "driver $(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"
    for t in /bin/vfio-selftests/vfio_*_test; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        { "$t" "$bdf" 2>&1; echo "exit $?"; } | mark_lines "kselftest $name"
    done
fi
finish
