#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and an existing build/ (built elsewhere and copied over,
# as with the lent GPU machine): run the CUDA tests and the seed example on the GPU.
# Needs no Halide or toolchain there: only the driver's libcuda.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build="${BUILD_DIR:-build}"
nvidia-smi -L || true
CONVT3D_VERBOSE=1 "$build/tests/test_forward_cuda" --durations yes
CONVT3D_VERBOSE=1 "$build/tests/test_backward_cuda" --durations yes
"$build/tools/cli/convt3d" info
"$build/tools/convt3d_seed_example"
