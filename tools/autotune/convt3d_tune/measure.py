"""The runner side: measures compiled candidates with convt3d-tune-runner, one process per
candidate so that a crash or a hang costs only that candidate. Standard library only: it
runs where the candidates run, which may have no Halide."""
import json
import subprocess
from pathlib import Path

from . import project


def target_args(isa):
    """The runner's options for candidates built for `isa` (None: a CPU one, on the best ISA
    this CPU runs): --device and, on the CPU, --isa, whose built-in dispatch they stand in for."""
    if isa is None:
        return ["--device", "cpu"]
    device = project.device_of(isa)
    return ["--device", device] + (["--isa", isa] if device == "cpu" else [])


def run_runner(runner, libraries, cases, repeats, timeout_s, suite, isa, runner_args, gradient):
    """(the runner's JSON output, None) or (None, a failed result)."""
    cmd = [str(runner)] + [a for library in libraries for a in ("--library", str(library))]
    cmd += ["--repeats", str(repeats), "--gradient", gradient] + target_args(isa) + list(runner_args)
    if suite:
        cmd += ["--suite", str(suite)]
    for case in cases:
        cmd += ["--case", case]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, {"status": "timeout", "why": f"over {timeout_s} s"}
    if r.returncode != 0:
        return None, {"status": "crash", "why": (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]}
    return json.loads(r.stdout), None


def result_of(cases):
    """A candidate's result from its per-case results."""
    statuses = {c["status"] for c in cases.values()}
    status = "ok" if statuses == {"ok"} else ("wrong" if "wrong" in statuses else "error")
    return {"status": status, "cases": cases}


def measure_one(runner, library, cases, repeats, timeout_s, suite=None, isa=None, runner_args=(),
                gradient="forward"):
    """{"status": "ok"|"wrong"|"error"|"crash"|"timeout", "cases": {case: result}}. isa: the
    candidate's (target_args); runner_args: more options for the runner (e.g.
    ["--min-warmup-ms", "200"]); gradient: what the candidate computes (project.gradient_of
    its variant)."""
    out, failed = run_runner(runner, [library], cases, repeats, timeout_s, suite, isa, runner_args, gradient)
    return failed or result_of(out["cases"])


def measure_in_turns(runner, libraries, cases, repeats, timeout_s, suite=None, isa=None, runner_args=(),
                     gradient="forward"):
    """measure_one's result for each library, all from one runner process that checks each
    and then times them call by call in turns: the machine's load drifts over minutes, and
    candidates timed in turns see the same load, so close ones can be told apart."""
    out, failed = run_runner(runner, libraries, cases, repeats, timeout_s, suite, isa, runner_args, gradient)
    if failed:
        return [failed] * len(libraries)
    return [result_of({case: out["cases"][case][i] for case in cases}) for i in range(len(libraries))]


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
                                 entry["isa"], runner_args, project.gradient_of(entry["variant"]))
            print(f"{entry['id']} {result['status']}", flush=True)
            out.write(json.dumps(dict(result, id=entry["id"])) + "\n")
            out.flush()
