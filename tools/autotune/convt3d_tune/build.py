"""The builder: compiles candidates into shared objects with the forward (or a gradient's)
generator. It needs Halide (the generator executable) and a C++ compiler, nothing else;
what it writes (one <id>.so per candidate and manifest.json) is all that the runner side
needs."""
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import project

SYMBOL = "convt3d_candidate"


def autoscheduler_plugin(name):
    """Halide's autoscheduler plugins ship in the halide wheel, next to libHalide."""
    import halide  # only the builder needs the Python package, to find the plugins
    lib = Path(halide.__file__).parent / "lib64" / f"libautoschedule_{name.lower()}.so"
    if not lib.exists():
        raise FileNotFoundError(f"no autoscheduler plugin {lib}")
    return lib


def generator_args(c, threads):
    params = project.kernel_params(c.variant)
    target = project.isa_targets()[c.isa] + "-no_runtime"  # the runner brings the runtime
    args = ["-g", project.generator_name(c.variant), "-e", "object", "-f", SYMBOL, f"target={target}"]
    args += [f"{k}={v}" for k, v in params.items()]
    if c.autoscheduler:
        # "Adams2019:beam_size=1": the autoscheduler's name, then its own parameters. On a CPU
        # the parallelism is --threads unless the spec sets it; on a GPU it means something
        # else per autoscheduler (Anderson2021: SMs), so only the spec sets it there.
        name, *options = c.autoscheduler.split(":")
        args = ["-p", str(autoscheduler_plugin(name))] + args
        args += [f"autoscheduler={name}"]
        if project.device_of(c.isa) == "cpu" and not any(o.startswith("parallelism=") for o in options):
            args += [f"autoscheduler.parallelism={threads}"]
        args += [f"estimate_input={c.estimate_input}"] + [f"autoscheduler.{o}" for o in options]
    else:
        args += [f"{k}={v}" for k, v in c.knobs.items()]
    return args


def build_one(c, generator, out_dir, timeout_s, threads):
    """Compiles one candidate to out_dir/<id>.so; returns {"status": "built"|"compile_error"|
    "compile_timeout", "why": ..., "build_s": ...}."""
    out_dir = Path(out_dir)
    lib = out_dir / f"{c.id}.so"
    if lib.exists():
        return {"status": "built", "build_s": 0.0}
    work = out_dir / c.id
    work.mkdir(parents=True, exist_ok=True)
    cmd = [str(project.generator_executable(generator, c.variant)), "-o", str(work)] + generator_args(c, threads)
    t0 = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        if r.returncode == 0:
            obj = work / f"{SYMBOL}.o"
            r = subprocess.run([os.environ.get("CXX", "c++"), "-shared", "-o", str(lib), str(obj)],
                               capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"status": "compile_timeout", "why": f"over {timeout_s} s", "build_s": time.time() - t0}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if r.returncode != 0:
        why = (r.stderr or r.stdout).strip().splitlines()
        return {"status": "compile_error", "why": "\n".join(why[-5:]) or f"exit {r.returncode}",
                "build_s": time.time() - t0}
    if project.device_of(c.isa) == "cuda" and b"halide_cuda_run" not in lib.read_bytes():
        # An autoscheduler without GPU support (Adams2019; Mullapudi2016 without
        # experimental_gpu_schedule) schedules a CUDA target on the host: not a GPU kernel.
        lib.unlink()
        return {"status": "no_gpu_kernel", "why": "the schedule launches no CUDA kernel (it runs on the host)",
                "build_s": time.time() - t0}
    return {"status": "built", "build_s": time.time() - t0}


def build_many(cands, generator, out_dir, jobs, timeout_s, threads):
    """{id: build result}, compiling `jobs` candidates at a time."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = pool.map(lambda c: build_one(c, generator, out_dir, timeout_s, threads), cands)
        return {c.id: r for c, r in zip(cands, results)}


def write_manifest(out_dir, entries, failed=()):
    """entries: [(candidate, [case names])] -> out_dir/manifest.json, for the runner side, which
    measures its "candidates". failed: [(candidate, [case names], build result)] that did not
    build, under "failed", for `merge` to log (the runner side ignores them)."""
    manifest = {"candidates": [dict(c.to_json(), library=f"{c.id}.so", cases=cases) for c, cases in entries],
                "failed": [dict(c.to_json(), cases=cases, build=b) for c, cases, b in failed]}
    (Path(out_dir) / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
