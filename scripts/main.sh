#!/usr/bin/env bash
# The main job: install, generate and link the kernels, run the seed example.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/configure.sh
"${BUILD_DIR:-build}/tools/convt3d_seed_example"
