"""One table, one run: per suite case, the tuned schedule (schedules/forward.json), the
hand-written one it started from, and Halide's autoschedulers on the same algorithm
(the same generator and variant, with estimates set to the case's shape)."""
import json
from pathlib import Path

from . import build, measure, project, schedules_io
from .space import Candidate, Space


def _estimate_input(suite_path, case):
    for c in project.load_json(suite_path)["cases"]:
        if c["name"] == case:
            return ",".join(str(v) for v in [c["N"], c["Cin"], *c["in"]])
    raise KeyError(case)


def run(args, setup, cases):
    schedules = project.load_json(project.SCHEDULE_FILE)
    autos = [a for a in args.autoschedulers.split(",") if a]
    columns = ["tuned", "hand-written"] + autos
    plan = {}  # case -> {column: candidate}
    for c in cases:
        v = c["kernel"]
        space = Space(v, args.isa)
        row = {"tuned": space.from_knobs(schedules_io.knobs_for(schedules, "forward", args.isa, v)),
               "hand-written": space.from_knobs(schedules_io.hand_written_knobs(schedules, args.isa, v))}
        for a in autos:
            row[a] = Candidate(v, args.isa, {}, autoscheduler=a, estimate_input=_estimate_input(args.suite, c["case"]))
        plan[c["case"]] = row
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
    lines = ["| case | variant | " + " | ".join(f"{col} ms" for col in columns) +
             " | tuned vs best autoscheduler | tuned vs hand-written |",
             "|---|---|" + "---|" * (len(columns) + 2)]
    for c in cases:
        row = plan[c["case"]]
        cells, times = [], {}
        for col in columns:
            key = (c["case"], row[col].id)
            times[col] = best.get(key)
            cells.append(f"{times[col]:.2f}" if times[col] else why.get(key, "-"))
        auto_times = [times[a] for a in autos if times[a]]
        vs_auto = f"{min(auto_times) / times['tuned']:.2f}x" if auto_times and times["tuned"] else "-"
        vs_hand = f"{times['hand-written'] / times['tuned']:.2f}x" if times["tuned"] and times["hand-written"] else "-"
        lines.append(f"| {c['case']} | {c['kernel']} | " + " | ".join(cells) + f" | {vs_auto} | {vs_hand} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
