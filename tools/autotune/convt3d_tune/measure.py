"""The runner side: measures compiled candidates with convt3d-tune-runner, one process per
candidate so that a crash or a hang costs only that candidate. Standard library only: it
runs where the candidates run, which may have no Halide."""
import json
import subprocess
from pathlib import Path

from . import project


def measure_one(runner, library, cases, repeats, timeout_s, suite=None, device="cpu", runner_args=(),
                gradient="forward"):
    """{"status": "ok"|"wrong"|"error"|"crash"|"timeout", "cases": {case: result}}. runner_args:
    more options for the runner (e.g. ["--min-warmup-ms", "200"]); gradient: what the
    candidate computes (project.gradient_of its variant)."""
    cmd = [str(runner), "--library", str(library), "--repeats", str(repeats), "--device", device,
           "--gradient", gradient] + list(runner_args)
    if suite:
        cmd += ["--suite", str(suite)]
    for case in cases:
        cmd += ["--case", case]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "why": f"over {timeout_s} s"}
    if r.returncode != 0:
        return {"status": "crash", "why": (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]}
    out = json.loads(r.stdout)
    statuses = {c["status"] for c in out["cases"].values()}
    status = "ok" if statuses == {"ok"} else ("wrong" if "wrong" in statuses else "error")
    return {"status": status, "cases": out["cases"]}


def measure_manifest(runner, directory, results_path, repeats, timeout_s, suite=None, done=(), runner_args=()):
    """Measures every candidate of directory/manifest.json not in `done`, appending one JSON
    line per candidate to results_path (so an interrupted run resumes)."""
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    with open(results_path, "a") as out:
        for entry in manifest["candidates"]:
            if entry["id"] in done:
                continue
            result = measure_one(runner, directory / entry["library"], entry["cases"], repeats, timeout_s, suite,
                                 project.device_of(entry["isa"]), runner_args, project.gradient_of(entry["variant"]))
            print(f"{entry['id']} {result['status']}", flush=True)
            out.write(json.dumps(dict(result, id=entry["id"])) + "\n")
            out.flush()
