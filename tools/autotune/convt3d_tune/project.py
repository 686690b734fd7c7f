"""What the tuner reads from the project: kernel variants and ISA targets (from
cmake/Convt3dKernels.cmake, the one place they are defined) and the schedule files."""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
KERNELS_CMAKE = ROOT / "cmake" / "Convt3dKernels.cmake"
SCHEDULE_FILE = ROOT / "schedules" / "forward.json"
SPACE_FILE = ROOT / "schedules" / "forward_space.json"
SUITE_FILE = ROOT.parent / "shared" / "bench" / "suite.json"


def _cmake_sets(prefix):
    """{suffix: [values]} for every `set(<prefix><suffix> values...)` in the kernels file."""
    text = KERNELS_CMAKE.read_text()
    found = {}
    for m in re.finditer(r"^set\(" + prefix + r"(\w+) ([^)\n]*)\)", text, re.M):
        found[m.group(1)] = m.group(2).split()
    return found


def variant_params():
    """{variant: {"stride": "2", ...}}: the generator parameters that make each variant."""
    return {v: dict(kv.split("=", 1) for kv in values) for v, values in _cmake_sets("CONVT3D_VARIANT_").items()}


def isa_targets():
    """{isa: Halide target string}, e.g. {"avx2": "x86-64-linux-sse41-avx-f16c-fma-avx2"}."""
    return {isa: values[0] for isa, values in _cmake_sets("CONVT3D_TARGET_").items()}


def has_phases(params):
    """Whether a variant decomposes x by stride phase (fixed stride and kernel, dilation 1)."""
    return params.get("stride", "0") != "0" and params.get("kernel", "0") != "0" and params.get("dilation") == "1"


def load_json(path):
    with open(path) as f:
        return json.load(f)


def write_json(path, data):
    """Writes with the layout the schedule files use (one-space indent, trailing newline)."""
    Path(path).write_text(json.dumps(data, indent=1) + "\n")
