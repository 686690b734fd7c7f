#!/usr/bin/env bash
# Installs everything convt3d needs on a fresh Debian machine; safe to run again.
#  - Debian packages (Catch2 v2, nlohmann-json, CLI11, xtensor for .npy files)
#  - a project-local virtual environment .venv with pinned Halide, CMake and Ninja
#  - with --bench, also oneDNN for tools/benchmark (large; CI does not need it)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

debian_packages=(catch2 nlohmann-json3-dev libcli11-dev libxtensor-dev)
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
  bench_stamp=".venv/.requirements-bench.stamp"
  if [[ ! -f "$bench_stamp" ]] || ! cmp -s requirements-bench.txt "$bench_stamp"; then
    echo "setup: installing benchmark-only packages (oneDNN) into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-bench.txt
    cp requirements-bench.txt "$bench_stamp"
  fi
fi
echo "setup: ok ($(.venv/bin/cmake --version | head -1), halide $(.venv/bin/python -c 'import halide,importlib.metadata as m;print(m.version("halide"))'))"
