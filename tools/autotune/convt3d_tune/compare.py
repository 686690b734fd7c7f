"""One table: per suite case, the tuned schedule (schedules/forward.json), the hand-written one
it started from, and Halide's autoschedulers on the same algorithm (the same generator and
variant, with estimates set to the case's shape).

On a CPU ISA `run` builds and measures everything here, in one run. A CUDA kernel cannot run
here, so on CUDA the same candidates go through the split flow: `write_plan` writes them as a
plan for `build`, a GPU machine measures them, `merge --replace` logs the results, and
`table_from_log` prints the table from the tuning log alone."""
import json
from pathlib import Path

from . import build, measure, project, schedules_io
from .log import TuningLog
from .space import Candidate, Space

# Halide 21's autoschedulers per device. On CPU: Adams2019's default beam search (32) ran out
# of memory on this generator; greedy (1) takes 20-60 s per kernel. On CUDA only these
# produce GPU kernels (Adams2019 schedules a CUDA target for the host); the parameters
# describe an H100 (132 SMs, 228 KB of shared memory per SM; Anderson2021's other defaults,
# 48 KB of shared memory per block, 32 blocks and 64 warps per SM, fit it), and Mullapudi2016
# schedules for a GPU only with experimental_gpu_schedule (then its GPU defaults:
# parallelism 128, 48 KB "cache" = shared memory per block). Li2018 schedules for a GPU
# whenever the target has one and takes no GPU parameters.
DEFAULT_AUTOSCHEDULERS = {
    "cpu": "Mullapudi2016,Li2018,Adams2019:beam_size=1",
    "cuda": "Anderson2021:parallelism=132:shared_memory_sm_limit_kb=228,Li2018,"
            "Mullapudi2016:experimental_gpu_schedule=1",
}


def autoschedulers(args):
    """The autoscheduler specs to compare ("NAME:param=value:..."), --autoschedulers or the
    ISA's device's default."""
    spec = args.autoschedulers or DEFAULT_AUTOSCHEDULERS[project.device_of(args.isa)]
    return [a for a in spec.split(",") if a]


def _estimate_input(suite_path, case, group_calls=1):
    """N,C,D,H,W of what one kernel call sees: one group's channels where the runtime runs
    the case one group at a time."""
    for c in project.load_json(suite_path)["cases"]:
        if c["name"] == case:
            return ",".join(str(v) for v in [c["N"], c["Cin"] // group_calls, *c["in"]])
    raise KeyError(case)


def plan_rows(args, cases, autos):
    """{case: {column: candidate}}: the columns "tuned", "hand-written" (of the variant the
    runtime picks for the case) and one per autoscheduler spec (estimates: the case's shape)."""
    schedules = project.load_json(project.SCHEDULE_FILE)
    rows = {}
    for c in cases:
        v = c["kernel"]
        space = Space(v, args.isa)
        row = {"tuned": space.from_knobs(schedules_io.knobs_for(schedules, "forward", args.isa, v)),
               "hand-written": space.from_knobs(schedules_io.hand_written_knobs(schedules, args.isa, v))}
        for a in autos:
            row[a] = Candidate(v, args.isa, {}, autoscheduler=a, estimate_input=_estimate_input(args.suite, c["case"], c.get("group_calls", 1)))
        rows[c["case"]] = row
    return rows


def format_table(cases, rows, autos, result):
    """The Markdown table. result(case, candidate) -> (ms, None) or (None, why)."""
    columns = ["tuned", "hand-written"] + autos
    lines = ["| case | variant | " + " | ".join(f"{col} ms" for col in columns) +
             " | tuned vs best autoscheduler | tuned vs hand-written |",
             "|---|---|" + "---|" * (len(columns) + 2)]
    for c in cases:
        row = rows[c["case"]]
        cells, times = [], {}
        for col in columns:
            times[col], why = result(c["case"], row[col])
            cells.append(f"{times[col]:.2f}" if times[col] else (why or "-"))
        auto_times = [times[a] for a in autos if times[a]]
        vs_auto = f"{min(auto_times) / times['tuned']:.2f}x" if auto_times and times["tuned"] else "-"
        vs_hand = f"{times['hand-written'] / times['tuned']:.2f}x" if times["tuned"] and times["hand-written"] else "-"
        lines.append(f"| {c['case']} | {c['kernel']} | " + " | ".join(cells) + f" | {vs_auto} | {vs_hand} |")
    return "\n".join(lines)


def _print_table(args, table):
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")


def run(args, setup, cases):
    """Builds and measures every column here (a CPU ISA) and prints the table."""
    autos = autoschedulers(args)
    plan = plan_rows(args, cases, autos)
    unique = {cand.id: cand for row in plan.values() for cand in row.values()}
    lib_dir = setup.work_dir / "compare"
    print(f"building {len(unique)} kernels (autoschedulers get {args.autoschedule_timeout} s each)", flush=True)
    built = {}
    for cand in unique.values():  # one at a time: Adams2019 alone can use all the memory
        timeout = args.autoschedule_timeout if cand.autoscheduler else 300
        built[cand.id] = build.build_one(cand, setup.generator, lib_dir, timeout, setup.threads)
        print(f"  {cand.describe()}: {built[cand.id]['status']} ({built[cand.id]['build_s']:.0f} s)", flush=True)
    best = {}  # (case, id) -> ms
    why = {}
    # Ours are measured in every round (they are close to each other, so noise matters);
    # the autoschedulers' kernels, several times slower and slow to time, in the first.
    for round_index in range(args.rounds):
        for case, row in plan.items():
            for cand in dict.fromkeys(row.values()):
                if cand.autoscheduler and round_index > 0:
                    continue
                if built[cand.id]["status"] != "built":
                    why[(case, cand.id)] = built[cand.id]["status"]
                    continue
                m = measure.measure_one(setup.runner, lib_dir / f"{cand.id}.so", [case], setup.repeats,
                                        1200, setup.suite)
                if m["status"] != "ok":
                    why[(case, cand.id)] = m["status"]
                    continue
                ms = m["cases"][case]["median_ms"]
                best[(case, cand.id)] = min(ms, best.get((case, cand.id), ms))
    _print_table(args, format_table(cases, plan, autos,
                                    lambda case, cand: (best.get((case, cand.id)), why.get((case, cand.id)))))


def write_plan(args, cases):
    """The comparison's candidates as a plan for `build` (the split flow; the only one on
    CUDA): each candidate once, with every case it serves in the table."""
    rows = plan_rows(args, cases, autoschedulers(args))
    entries = {}
    for case, row in rows.items():
        for cand in row.values():
            entry = entries.setdefault(cand.id, dict(cand.to_json(), cases=[]))
            if case not in entry["cases"]:
                entry["cases"].append(case)
    Path(args.plan).parent.mkdir(parents=True, exist_ok=True)
    Path(args.plan).write_text(json.dumps({"candidates": list(entries.values())}, indent=1) + "\n")
    autos = sum(1 for e in entries.values() if e["autoscheduler"])
    print(f"{len(entries)} candidates for {len(rows)} cases ({len(entries) - autos} tuned or hand-written, "
          f"{autos} autoscheduled) in {args.plan}")


def log_result(tlog, case, cand):
    """(ms, None) or (None, why) for a candidate's time on a case in the tuning log."""
    record = tlog.records.get(cand.id)
    if record is None:
        return None, "not measured"
    result = record.get("cases", {}).get(case)
    if result is None:
        return None, record.get("status") if record.get("status") != "ok" else "not measured"
    if result.get("status") == "ok" and result.get("median_ms"):
        return result["median_ms"], None
    return None, result.get("status") or record.get("status")


def table_from_log(args, cases):
    """The table from the tuning log alone (results measured elsewhere and merged)."""
    tlog = TuningLog(Path(args.work_dir) / f"tune-{args.isa}.jsonl")
    autos = autoschedulers(args)
    _print_table(args, format_table(cases, plan_rows(args, cases, autos), autos,
                                    lambda case, cand: log_result(tlog, case, cand)))
