"""What the tuner reads from the project: kernel variants and ISA targets (from
cmake/Convt3dKernels.cmake and cmake/Convt3dBackwardKernels.cmake, the one place they are
defined) and the schedule files. A gradient's kernel is named "<gradient>:<variant>"
(e.g. "grad_input:g1"); every other name is a forward kernel's."""
import json
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
KERNELS_CMAKE = ROOT / "cmake" / "Convt3dKernels.cmake"
SCHEDULE_FILE = ROOT / "schedules" / "forward.json"
SPACE_FILE = ROOT / "schedules" / "forward_space.json"
SUITE_FILE = ROOT.parent / "shared" / "bench" / "suite.json"
BACKWARD_CMAKE = ROOT / "cmake" / "Convt3dBackwardKernels.cmake"
BACKWARD_SCHEDULE_FILE = ROOT / "schedules" / "backward.json"
BACKWARD_SPACE_FILE = ROOT / "schedules" / "backward_space.json"
GRADIENTS = ("grad_input", "grad_weight")


def _cmake_sets(prefix, path=KERNELS_CMAKE):
    """{suffix: [values]} for every `set(<prefix><suffix> values...)` in a kernels file."""
    text = path.read_text()
    found = {}
    for m in re.finditer(r"^set\(" + prefix + r"(\w+) ([^)\n]*)\)", text, re.M):
        found[m.group(1)] = [v for v in m.group(2).split() if v != '""']
    return found


def _variant_params(prefix, path=KERNELS_CMAKE):
    """{variant: {param: value}} from the `set(<prefix><variant> param=value...)` lines."""
    return {v: dict(kv.split("=", 1) for kv in values) for v, values in _cmake_sets(prefix, path).items()}


def variant_params():
    """{variant: {"stride": "2", ...}}: the generator parameters that make each variant."""
    return _variant_params("CONVT3D_VARIANT_")


def backward_variant_params():
    """{variant: {"fixed_groups": "1", ...}}: the same for the gradient kernels' variants."""
    return _variant_params("CONVT3D_BACKWARD_VARIANT_", BACKWARD_CMAKE)


def gradient_of(name):
    """"grad_input" or "grad_weight" for a gradient kernel's name, else "forward"."""
    head, sep, _ = name.partition(":")
    return head if sep and head in GRADIENTS else "forward"


def gradient_kernel_name(gradient, variant):
    return f"{gradient}:{variant}"


def generator_name(name):
    """The generator (-g) that compiles kernel `name`."""
    return f"conv_transpose3d_{gradient_of(name)}"


def generator_executable(forward_generator, name):
    """The executable that holds it: the forward generators, or the backward generators'
    executable, which the build puts beside them."""
    if gradient_of(name) == "forward":
        return Path(forward_generator)
    return Path(forward_generator).parent / "convt3d_backward_generators"


def space_file(name):
    return SPACE_FILE if gradient_of(name) == "forward" else BACKWARD_SPACE_FILE


def isa_targets():
    """{isa: Halide target string}, e.g. {"avx2": "x86-64-linux-sse41-avx-f16c-fma-avx2"}; "cuda"
    with the CUDA capability that CMakeLists.txt defaults to."""
    capability = re.search(r'set\(CONVT3D_CUDA_CAPABILITY "(\w+)"', (ROOT / "CMakeLists.txt").read_text()).group(1)
    return {isa: values[0].replace("${CONVT3D_CUDA_CAPABILITY}", capability)
            for isa, values in _cmake_sets("CONVT3D_TARGET_").items()}


def cpu_description():
    """This machine's CPU as the tuned entries record it ("Intel(R) Xeon(R) Processor (family
    6, model 167), 2 cores"): the CPUs a session gets vary, and a schedule is only known to be
    good where it was measured."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    # A hypervisor often hides the model name ("Intel(R) Xeon(R) Processor"); family and
    # model still tell the microarchitecture.
    model = fields.get("model name", "unknown CPU")
    if "cpu family" in fields and "model" in fields:
        model += f" (family {fields['cpu family']}, model {fields['model']})"
    return f"{model}, {os.cpu_count()} cores"


def device_of(isa):
    """Where a candidate for `isa` runs: "cuda" or "cpu" (the runner's --device)."""
    return "cuda" if isa == "cuda" else "cpu"


LAYER_PREFIX = "layer:"


def layer_name(case):
    """The name of the kernel specialised for a suite case's layer: "layer:" and the key that
    convt3d_add_specialised_kernel() looks up in forward.json's "layers" (Convt3dSpecialise.cmake)."""
    t = lambda k: "x".join(str(v) for v in case[k])  # noqa: E731
    return (f"{LAYER_PREFIX}in{case['Cin']}_out{case['Cout']}_k{t('kernel')}_s{t('stride')}_p{t('padding')}"
            f"_d{t('dilation')}_g{case['groups']}")


def layer_params(name):
    """The generator parameters that fix a layer, from its name (see layer_name)."""
    m = re.fullmatch(LAYER_PREFIX + r"in(\d+)_out(\d+)_k([\dx]+)_s([\dx]+)_p([\dx]+)_d([\dx]+)_g(\d+)", name)
    if not m:
        raise ValueError(f"not a layer name: {name}")
    ci, co, k, s, p, d, g = m.groups()
    c = lambda t: t.replace("x", ",")  # noqa: E731
    return {"stride": c(s), "kernel": c(k), "dilation": c(d), "padding": c(p), "fixed_groups": g,
            "in_channels": ci, "out_channels": co}


def kernel_params(name):
    """Generator parameters of a built-in variant, a gradient kernel or a layer-specialised kernel."""
    if gradient_of(name) != "forward":
        return backward_variant_params()[name.partition(":")[2]]
    return layer_params(name) if name.startswith(LAYER_PREFIX) else variant_params()[name]


def has_phases(params):
    """Whether x is decomposed by stride phase: its stride and kernel fixed, dilation 1."""
    x = lambda key: params.get(key, "0").split(",")[-1]  # noqa: E731  (x = W, the last of D,H,W)
    return x("stride") != "0" and x("kernel") != "0" and x("dilation") == "1"


def load_json(path):
    with open(path) as f:
        return json.load(f)


def write_json(path, data):
    """Writes with the layout the schedule files use (one-space indent, trailing newline)."""
    Path(path).write_text(json.dumps(data, indent=1) + "\n")
