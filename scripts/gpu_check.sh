#!/usr/bin/env bash
# On a machine with an NVIDIA GPU, from a folder that scripts/gpu_stage.sh filled: the CUDA
# forward and backward tests, the CPU tests (on that machine's ISA: AVX-512 where it has it),
# the seed example, and the CUDA benchmark against cuDNN (forward, then backward). Needs no
# Halide or compiler there: only the driver's libcuda, and cuDNN for the benchmark (the
# system's, else the one in the nvidia-* Python wheels that PyTorch brings).
# Logs go to $OUT (the device tool's folder) or <stage>/out; the exit status counts failures.
# GPU_CHECK_STEP_S limits each step's seconds (exit 124 when it runs out).
#   scripts/gpu_check.sh [stage] [benchmark args...]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stage="${1:-build-gpu-stage}"
shift || true
out="${OUT:-$stage/out}"
mkdir -p "$out"
if ! ldconfig -p | grep -q 'libcudnn.so.9'; then
    wheels="$(python3 -c 'import nvidia, os; print(":".join(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in sorted(os.listdir(p))))' 2>/dev/null)"
    export LD_LIBRARY_PATH="${wheels}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
failed=0
step() {  # step NAME COMMAND...: runs it, its output to the terminal and to $out/NAME.log
    echo "=== $1: ${*:2}"
    timeout "${GPU_CHECK_STEP_S:-600}" "${@:2}" 2>&1 | tee "$out/$1.log"
    local rc=${PIPESTATUS[0]}
    echo "=== $1: exit $rc"
    [ "$rc" -eq 0 ] || failed=$((failed + 1))
}
{ nvidia-smi -L; lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-400; } 2>&1 | tee "$out/machine.log"
export CONVT3D_VERBOSE=1
step cuda_forward "$stage/test_forward_cuda" --durations yes
step cuda_backward "$stage/test_backward_cuda" --durations yes
unset CONVT3D_VERBOSE
step cpu_tests sh -c "'$stage/test_forward_cpu' && '$stage/test_backward_cpu'"
step seed_example sh -c "'$stage/convt3d' info && '$stage/convt3d_seed_example'"
step bench_forward "$stage/convt3d-benchmark" --suite "$stage/suite.json" --device cuda --markdown "$@"
step bench_backward "$stage/convt3d-benchmark" --suite "$stage/suite.json" --device cuda --pass backward --markdown "$@"
echo "gpu_check.sh: $failed step(s) failed"
exit "$failed"
