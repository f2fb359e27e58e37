# shellcheck shell=bash
# Sourced by scripts/run-checks.sh: the benchmark's quick subset
# (BENCH_QUICK=1 make bench, results in build/bench-quick/), only to prove
# that it runs end to end; timings are never asserted.  The baseline build
# (bench-base.sh) comes first; ccache makes it cheap after the first time.
note "benchmark, quick subset (proves it runs; judges nothing)"
run_test "bench-quick" bash -c "bash '$TOP/scripts/bench-base.sh' &&
    BENCH_QUICK=1 bash '$TOP/scripts/bench.sh'"
