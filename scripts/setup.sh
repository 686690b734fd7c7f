#!/usr/bin/env bash
# Installs everything convt3d needs on a fresh Debian machine; safe to run again.
#  - Debian packages (Catch2 v2, nlohmann-json, CLI11, xtensor for .npy files, oneDNN for
#    the benchmark's comparison, and the OpenCL headers that oneDNN's CMake package requires)
#  - a project-local virtual environment .venv with pinned Halide, CMake and Ninja
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# oneDNN for the benchmark: Debian's libdnnl-dev (2.6). The newer PyPI onednn 3.13 also works
# (the benchmark points OCL_ICD_FILENAMES at its OpenCL CPU runtime) but pulls ~2 GB of Intel
# runtimes, so it is optional: `scripts/setup.sh --bench` adds it (requirements-bench.txt).
debian_packages=(catch2 nlohmann-json3-dev libcli11-dev libxtensor-dev libdnnl-dev ocl-icd-opencl-dev)
missing=()
for p in "${debian_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python="${PYTHON:-python3}"
stamp=".venv/.requirements.stamp"
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv
fi
if [[ ! -f "$stamp" ]] || ! cmp -s requirements.txt "$stamp"; then
  echo "setup: installing pinned Python packages into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt "$stamp"
fi
if [[ "${1:-}" == "--bench" ]]; then
  echo "setup: installing the benchmark's oneDNN (PyPI) into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-bench.txt
fi
echo "setup: ok ($(.venv/bin/cmake --version | head -1), halide $(.venv/bin/python -c 'import halide,importlib.metadata as m;print(m.version("halide"))'))"
