#!/usr/bin/env bash
# The whole test suite: install, build, run every test through CTest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/configure.sh
cd "${BUILD_DIR:-build}"
"$root/.venv/bin/ctest" --output-on-failure -j "$(nproc)"
