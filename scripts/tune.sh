#!/usr/bin/env bash
# Tunes the forward CPU schedules on the benchmark suite for this machine's ISA within a
# budget (minutes, default 20), writes them into schedules/forward.json and rebuilds;
# PASS=backward tunes the gradient kernels' into schedules/backward.json instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/configure.sh
build="${BUILD_DIR:-build}"
isa="${ISA:-$(grep -q avx512f /proc/cpuinfo && echo avx512 || echo avx2)}"
.venv/bin/python tools/autotune/convt3d_autotune.py --isa "$isa" --pass "${PASS:-forward}" --generator "$build/generators/convt3d_generators" \
  --runner "$build/tools/autotune/convt3d-tune-runner" --work-dir "$build/autotune" \
  tune --budget-minutes "${1:-20}" --candidates "${CANDIDATES:-30}" --write
.venv/bin/cmake --build "$build"
