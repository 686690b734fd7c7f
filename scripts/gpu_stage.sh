#!/usr/bin/env bash
# Collects what a GPU machine needs into one folder (default build-gpu-stage/, ignored by git):
# the CUDA and CPU test programs, the seed example, the CLI, the benchmark, the autotuner's
# runner and the suite file; with --candidates DIR, also DIR (candidates that
# `convt3d_autotune.py --isa cuda plan/build` compiled) as candidates.tar.xz.
# The lent GPU machine takes at most 64 MiB with the working tree and has no Halide, so the
# whole build folder cannot go; these binaries need only libc++ and, at run time, libcuda
# (and cuDNN for the benchmark). Build a benchmark that runs there without oneDNN's libraries:
#   BUILD_DIR=build-gpu CONVT3D_CMAKE_ARGS=-DCONVT3D_ONEDNN=off ./scripts/configure.sh
#   BUILD_DIR=build-gpu ./scripts/gpu_stage.sh
# then run scripts/gpu_check.sh there (carry build-gpu-stage).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${BUILD_DIR:-build}"
candidates=""
if [ "${1:-}" = --candidates ]; then
    candidates="$2"
    shift 2
fi
stage="${1:-build-gpu-stage}"
rm -rf "$stage"
mkdir -p "$stage"
for bin in tests/test_forward_cuda tests/test_backward_cuda tests/test_forward_cpu tests/test_backward_cpu \
           tools/convt3d_seed_example tools/cli/convt3d tools/benchmark/convt3d-benchmark \
           tools/autotune/convt3d-tune-runner; do
    cp "$build/$bin" "$stage/"
    strip --strip-unneeded "$stage/$(basename "$bin")"
done
if ldd "$stage/convt3d-benchmark" | grep -q dnnl; then
    echo "gpu_stage.sh: $build's benchmark links oneDNN, whose libraries do not travel; configure with -DCONVT3D_ONEDNN=off" >&2
    exit 1
fi
cp "$(sed -n 's/^CONVT3D_BENCH_SUITE:FILEPATH=//p' "$build/CMakeCache.txt")" "$stage/suite.json"
if [ -n "$candidates" ]; then
    tar -cJf "$stage/candidates.tar.xz" -C "$(dirname "$candidates")" "$(basename "$candidates")"
fi
du -sh "$stage"
