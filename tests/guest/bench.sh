# shellcheck shell=sh
# Guest half of the benchmark (bench/guestbench.py boots with
# "pasidtest=bench"): sourced by tests/guest/init (busybox sh) once the
# disks are there; reports with marker lines and powers off.
#
# Cold sequential reads of the whole benchmark disk with O_DIRECT (every
# block a virtio-blk request whose DMA goes through the SMMU when there is
# one), at 4 KiB and 64 KiB per request, each framed by two markers: the
# host takes the times from their kernel log timestamps.  The disk is
# found by its size, "bench_mib=N" on the kernel command line.

bench_mib=$(sed -n 's/.*bench_mib=\([0-9]*\).*/\1/p' /proc/cmdline)
bench_disk=
for b in /sys/block/vd*; do
    [ -e "$b/size" ] || continue
    # MiB in 512-byte sectors
    [ "$(cat "$b/size")" = $((${bench_mib:-256} * 2048)) ] &&
        bench_disk=/dev/${b##*/}
done
mark bench_disk "${bench_disk:-none}"

if [ -n "$bench_disk" ]; then
    for bs in 4096 65536; do
        mark bench_start "$bs"
        # dd's summary ("N+0 records in") shows the whole disk was read
        out=$(dd if="$bench_disk" of=/dev/null bs="$bs" iflag=direct 2>&1 |
              tr '\n' ' ')
        mark bench_end "$bs $out"
    done
fi

mark bench_done
poweroff -f
