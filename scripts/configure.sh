#!/usr/bin/env bash
# Runs setup, then configures and builds convt3d in build/ (override with BUILD_DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/setup.sh "$@"
build="${BUILD_DIR:-build}"
halide_dir="$(.venv/bin/python -c 'import halide, os; print(os.path.join(os.path.dirname(halide.__file__), "lib64", "cmake", "Halide"))')"
.venv/bin/cmake -S . -B "$build" -G Ninja \
  -DCMAKE_MAKE_PROGRAM="$root/.venv/bin/ninja" \
  -DCMAKE_BUILD_TYPE=Release \
  -DHalide_DIR="$halide_dir" \
  ${CONVT3D_CMAKE_ARGS:-}
.venv/bin/cmake --build "$build" -j "$(nproc)"
