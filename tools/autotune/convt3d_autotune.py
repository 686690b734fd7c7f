#!/usr/bin/env python3
"""convt3d-autotune: tunes the forward kernel's CPU schedules on the benchmark suite and
writes the winners into schedules/forward.json, which the build reads (rebuild to use them);
with --pass backward, the gradient kernels' (grad_input, grad_weight) into
schedules/backward.json.

  tune     search every variant the suite's CPU cases use; --write stores the winners
  compare  tuned vs hand-written schedules vs Halide's autoschedulers, one table; on CUDA
           --plan writes the candidates for build/measure/merge and --from-log prints the table
  study    random vs evolutionary search at equal budget
  build / measure / merge
           the same work split across machines: `build` compiles candidates where Halide
           is, `measure` (standard-library Python + convt3d-tune-runner) times them where
           they will run, `merge` adds the results to the tuning log.

See tools/autotune/README.md."""
import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convt3d_tune import build, measure, project, schedules_io, search, tuner  # noqa: E402
from convt3d_tune.log import TuningLog, relative_objective  # noqa: E402
from convt3d_tune.space import Candidate, Space  # noqa: E402

BUILD = project.ROOT / "build"


def suite_cases(args):
    """[{case, kernel, gflop}] for the suite's cases of the ISA's device (CPU or CUDA), with the
    variant the runtime picks; with --pass backward, each case once per gradient, with the
    gradient's kernel ("grad_input:g1")."""
    cmd = [str(args.runner), "--describe", "--suite", str(args.suite)] + measure.target_args(args.isa)
    if args.pass_ == "forward":
        cases = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    else:
        cases = []
        for gradient in project.GRADIENTS:
            out = subprocess.run(cmd + ["--gradient", gradient], check=True, capture_output=True, text=True).stdout
            cases += [dict(c, kernel=project.gradient_kernel_name(gradient, c["kernel"])) for c in json.loads(out)]
    if args.case:
        cases = [c for c in cases if c["case"] in args.case]
    return cases


def cases_by_variant(args, described):
    """{kernel name: [cases]} from suite_cases(): the built-in variants the cases use or, with
    --specialise, one layer-specialised kernel per case."""
    by = {}
    suite = {c["name"]: c for c in project.load_json(args.suite)["cases"]}
    for c in described:
        name = project.layer_name(suite[c["case"]]) if getattr(args, "specialise", False) else c["kernel"]
        by.setdefault(name, []).append(c["case"])
    if args.variant:
        by = {v: cs for v, cs in by.items() if v in args.variant}
    return by


def setup_from(args):
    return tuner.Setup(args.generator, args.runner, Path(args.work_dir), args.suite, jobs=args.jobs,
                       threads=args.threads, repeats=args.repeats)


def start_candidate(variant, isa, described, cases):
    """Where a search starts, and what a winner must beat: the knobs the build gives a
    variant now (its tuned entry, else the hand-written one), so that tuning again never
    drops a schedule an earlier run found; for a layer (one forward case), the knobs
    convt3d_add_specialised_kernel() would give it now (its "layers" entry, else those of the
    variant the runtime picks for that case)."""
    schedules = project.load_json(schedules_io.schedule_file(variant))
    if variant.startswith(project.LAYER_PREFIX):
        key = variant[len(project.LAYER_PREFIX):]
        runtime_variant = next(c["kernel"] for c in described if c["case"] == cases[0])
        knobs = dict(schedules_io.knobs_for(schedules, "forward", isa, runtime_variant),
                     **schedules.get("layers", {}).get(isa, {}).get(key, {}))
    else:
        knobs = schedules_io.shipped_knobs(schedules, isa, variant)
    return Space(variant, isa).from_knobs(knobs)


def hand_written_candidate(variant, isa):
    """The knobs a variant had before any tuning, a second seed of a search."""
    schedules = project.load_json(schedules_io.schedule_file(variant))
    return Space(variant, isa).from_knobs(schedules_io.hand_written_knobs(schedules, isa, variant))


def cmd_tune(args):
    from tqdm import tqdm
    setup, tlog = setup_from(args), TuningLog(Path(args.work_dir) / f"tune-{args.isa}.jsonl")
    described = suite_cases(args)
    variants = cases_by_variant(args, described)
    rng = random.Random(args.seed)
    deadline = time.time() + args.budget_minutes * 60 if args.budget_minutes else None
    total = len(variants) * args.candidates
    winners = {}
    with tqdm(total=total, unit="cand", dynamic_ncols=True) as bar:
        for i, (variant, cases) in enumerate(variants.items()):
            # Each variant gets an equal share of what is left of the time budget.
            share = None if deadline is None else time.time() + (deadline - time.time()) / (len(variants) - i)
            start = start_candidate(variant, args.isa, described, cases)
            seeds = [start]
            if not variant.startswith(project.LAYER_PREFIX):
                hand = hand_written_candidate(variant, args.isa)
                seeds += [hand] if hand.id != start.id else []
            bar.set_description(variant)

            def progress(c, measured):
                best = min((o for _, o in measured if o is not None), default=None)
                bar.update(1)
                bar.set_postfix_str(f"best {best:.2f} ms" if best else "")

            # Relative to the starting schedule: no case of the variant may get slower.
            measured, score = tuner.search_variant(setup, tlog, variant, args.isa, cases, args.strategy,
                                                   args.candidates, rng, seeds=seeds, deadline=share,
                                                   progress=progress, relative_to_first=True)
            bar.update(args.candidates - len(measured))  # a budget or space cut short
            best, best_score = tuner.confirm_best(setup, tlog, measured, cases, score, start=start)
            if best is None:
                why = "no candidate ran correctly" if measured else "the budget was spent before it"
                tqdm.write(f"{variant}: {why}; left as it was")
                continue
            tqdm.write(f"{variant} on {', '.join(cases)}: {best.describe()}: worst time ratio to the "
                       f"starting schedule {best_score:.3f} after re-measuring, {len(measured)} candidates")
            provenance = {"cases": cases, "worst_ratio_to_start": round(best_score, 4), "candidates": len(measured),
                          "strategy": args.strategy, "seed": args.seed, "kept_start": best.id == start.id}
            if project.device_of(args.isa) == "cpu":
                provenance["machine"] = project.cpu_description()
            winners[variant] = (best.knobs, provenance)
    write(args, winners)


def write(args, winners):
    if args.write and winners:
        files = schedules_io.write_all_winners(args.isa, winners)
        print(f"wrote {len(winners)} tuned entries for {args.isa} into {', '.join(map(str, files))}; "
              "rebuild to use them")


def cmd_study(args):
    """Both strategies, from the same seeds, each allowed `--candidates` distinct
    candidates; measurements are shared through the log, so a candidate both try is
    measured once and compared on equal terms."""
    setup, tlog = setup_from(args), TuningLog(Path(args.work_dir) / f"tune-{args.isa}.jsonl")
    rows = []
    for variant, cases in cases_by_variant(args, suite_cases(args)).items():
        for seed in range(args.seed, args.seed + args.seeds):
            for strategy in ("random", "evolution"):
                rng = random.Random(seed)
                measured, _ = tuner.search_variant(setup, tlog, variant, args.isa, cases, strategy,
                                                   args.candidates, rng)
                curve, best = [], None
                for _, obj in measured:
                    if obj is not None:
                        best = obj if best is None else min(best, obj)
                    curve.append(best)
                rows.append({"variant": variant, "seed": seed, "strategy": strategy, "best_ms": best, "curve": curve})
                print(f"{variant} seed {seed} {strategy:9}: best {best:.3f} ms after {len(measured)}", flush=True)
    print("\n| variant | strategy | mean best ms | wins |\n|---|---|---|---|")
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        for strategy in ("random", "evolution"):
            runs = [r for r in mine if r["strategy"] == strategy]
            other = {r["seed"]: r["best_ms"] for r in mine if r["strategy"] != strategy}
            wins = sum(r["best_ms"] < other[r["seed"]] for r in runs)
            mean = sum(r["best_ms"] for r in runs) / len(runs)
            print(f"| {variant} | {strategy} | {mean:.3f} | {wins}/{len(runs)} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


def cmd_compare(args):
    from convt3d_tune import compare
    if args.plan:
        compare.write_plan(args, suite_cases(args))
    elif args.from_log:
        compare.table_from_log(args, suite_cases(args))
    elif args.pass_ != "forward":
        sys.exit("compare: the comparison with Halide's autoschedulers is of the forward kernels only")
    elif project.device_of(args.isa) != "cpu":
        sys.exit(f"compare: {args.isa} kernels cannot run here; write the comparison's candidates with "
                 "--plan, build and measure them where they run, merge --replace, then compare --from-log "
                 "(tools/autotune/README.md, CUDA)")
    else:
        compare.run(args, setup_from(args), suite_cases(args))


def logged(tlog, variant, isa, score):
    """[(candidate, objective)] for the log's schedules of (variant, isa), in the order logged."""
    return [(Candidate.from_json(r), score(r)) for r in tlog.records.values()
            if r["variant"] == variant and r["isa"] == isa and not r.get("autoscheduler")]


def variant_starts(args):
    """[(variant, cases, starting candidate)] of the suite's cases for --isa."""
    described = suite_cases(args)
    return [(v, cases, start_candidate(v, args.isa, described, cases))
            for v, cases in cases_by_variant(args, described).items()]


def cmd_plan(args):
    """A generation of candidates to build here and measure where they run (a GPU machine):
    per variant the starting schedule if the log lacks it, then --candidates more that
    --strategy proposes from what the log holds. plan, build, measure (there), merge can
    repeat; `pick` then chooses from the log."""
    tlog, rng = TuningLog(Path(args.work_dir) / f"tune-{args.isa}.jsonl"), random.Random(args.seed)
    entries = []
    for variant, cases, start in variant_starts(args):
        measured = logged(tlog, variant, args.isa, relative_objective(tlog.records.get(start.id), cases))
        tried = {c.id for c, _ in measured} | {start.id}
        todo = [] if start.id in tlog else [start]
        todo += search.STRATEGIES[args.strategy](Space(variant, args.isa), measured, tried, rng, args.candidates)
        entries += [dict(c.to_json(), cases=cases) for c in todo]
        print(f"{variant} on {', '.join(cases)}: {len(todo)} candidates")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"candidates": entries}, indent=1) + "\n")


def cmd_pick(args):
    """Winners from the log alone (results measured elsewhere and merged): per variant the
    schedule with the lowest worst time ratio to the starting one, kept only if that ratio
    is below 1 - --min-gain."""
    tlog, winners = TuningLog(Path(args.work_dir) / f"tune-{args.isa}.jsonl"), {}
    for variant, cases, start in variant_starts(args):
        if start.id not in tlog or tlog.records[start.id].get("status") != "ok":
            print(f"{variant}: the starting schedule was not measured correctly; left as it was")
            continue
        measured = logged(tlog, variant, args.isa, relative_objective(tlog.records[start.id], cases))
        ok = [(obj, c) for c, obj in measured if obj is not None]
        obj, best = min(ok, key=lambda t: t[0])
        if obj > 1 - args.min_gain:
            obj, best = 1.0, start
        times = lambda c: ", ".join(f"{tlog.records[c.id]['cases'][k]['median_ms']:.3f}" for k in cases)  # noqa: E731
        print(f"{variant} on {', '.join(cases)}: {best.describe()}: worst time ratio to the start {obj:.3f} "
              f"({times(best)} ms vs {times(start)} ms; {len(ok)} of {len(measured)} candidates ran correctly)")
        winners[variant] = (best.knobs, {"cases": cases, "worst_ratio_to_start": round(obj, 4),
                                         "candidates": len(ok), "strategy": "plan/measure/merge generations",
                                         "seed": args.seed, "kept_start": best.id == start.id})
    write(args, winners)


def cmd_build(args):
    plan = json.loads(Path(args.plan).read_text())
    entries = [(Candidate.from_json(e), e["cases"]) for e in plan["candidates"]]
    # Autoscheduled kernels one at a time, after the others: one autoscheduler alone can take
    # minutes and gigabytes (Anderson2021 on the generic variant: about 8 GB).
    results = build.build_many([c for c, _ in entries if not c.autoscheduler], args.generator, args.out,
                               args.jobs, 300, args.threads)
    for c, _ in entries:
        if c.autoscheduler:
            results[c.id] = build.build_one(c, args.generator, args.out, args.autoschedule_timeout, args.threads)
            print(f"  {c.describe()} for {c.estimate_input}: {results[c.id]['status']} "
                  f"({results[c.id]['build_s']:.0f} s)", flush=True)
    built = [(c, cases) for c, cases in entries if results[c.id]["status"] == "built"]
    failed = [(c, cases, results[c.id]) for c, cases in entries if results[c.id]["status"] != "built"]
    build.write_manifest(args.out, built, failed)
    for c, _ in entries:
        print(f"{c.id} {results[c.id]['status']} ({results[c.id]['build_s']:.0f} s) {c.describe()}", flush=True)


def cmd_measure(args):
    done = set()
    if Path(args.results).exists():
        done = {json.loads(line)["id"] for line in Path(args.results).read_text().splitlines() if line.strip()}
    runner_args = []
    for option in ("min_total_ms", "min_warmup_ms"):
        if getattr(args, option) is not None:
            runner_args += ["--" + option.replace("_", "-"), str(getattr(args, option))]
    measure.measure_manifest(args.runner, args.dir, args.results, args.repeats, 600, args.suite, done, runner_args)


def cmd_merge(args):
    """Adds a build's measured results, and the candidates that did not build (with why), to
    the tuning log. A candidate already logged is left as it was unless --replace (then the
    new record is appended, and the log's newest record of a candidate is the one that counts)."""
    tlog = TuningLog(Path(args.work_dir) / f"tune-{args.isa}.jsonl")
    manifest = json.loads((Path(args.dir) / "manifest.json").read_text())
    by_id = {e["id"]: Candidate.from_json(e) for e in manifest["candidates"]}
    fresh = lambda cid: args.replace or cid not in tlog  # noqa: E731
    n = failed = 0
    for line in Path(args.results).read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if r["id"] in by_id and fresh(r["id"]):
            tlog.add(by_id[r["id"]], {"status": "built"}, {k: v for k, v in r.items() if k != "id"})
            n += 1
    for e in manifest.get("failed", []):
        if fresh(e["id"]):
            tlog.add(Candidate.from_json(e), e["build"], {"status": e["build"]["status"], "why": e["build"].get("why", "")})
            failed += 1
    print(f"merged {n} results and {failed} candidates that did not build into {tlog.path}")


def main():
    from convt3d_tune.compare import DEFAULT_AUTOSCHEDULERS as compare_defaults
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", type=Path, default=BUILD / "generators" / "convt3d_generators",
                   help="the forward generators (the backward generators' executable is beside it)")
    p.add_argument("--runner", type=Path, default=BUILD / "tools" / "autotune" / "convt3d-tune-runner")
    p.add_argument("--suite", type=Path, default=project.SUITE_FILE)
    p.add_argument("--work-dir", type=Path, default=BUILD / "autotune", help="tuning log and candidates")
    p.add_argument("--isa", default="avx2", choices=sorted(project.isa_targets()))
    p.add_argument("--case", action="append", help="suite case (default: every CPU case)")
    p.add_argument("--pass", dest="pass_", default="forward", choices=["forward", "backward"],
                   help="tune the forward kernels, or the gradient kernels (grad_input, grad_weight)")
    p.add_argument("--variant", action="append", help="only these kernel variants")
    p.add_argument("--jobs", type=int, default=2, help="candidates compiled at once")
    p.add_argument("--threads", type=int, default=2, help="parallelism the autoschedulers assume")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per case (median)")
    p.add_argument("--seed", type=int, default=1)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tune", help="search and (with --write) store the winners")
    t.add_argument("--strategy", default="evolution", choices=["evolution", "random"])
    t.add_argument("--candidates", type=int, default=20, help="distinct candidates per variant")
    t.add_argument("--budget-minutes", type=float, help="stop after this long (split across variants)")
    t.add_argument("--write", action="store_true", help="write the winners into schedules/forward.json")
    t.add_argument("--specialise", action="store_true",
                   help="tune a kernel specialised to each case's layer (forward.json's 'layers', "
                        "used by convt3d_add_specialised_kernel) instead of the built-in variants")
    t.set_defaults(fn=cmd_tune)

    s = sub.add_parser("study", help="random vs evolutionary search at equal budget")
    s.add_argument("--candidates", type=int, default=12)
    s.add_argument("--seeds", type=int, default=3)
    s.add_argument("--json", help="write every run's best-so-far curve here")
    s.set_defaults(fn=cmd_study)

    c = sub.add_parser("compare", help="tuned vs hand-written vs Halide's autoschedulers")
    c.add_argument("--autoschedulers",
                   help="comma-separated; NAME:param=value passes autoscheduler.param=value (default, per "
                        "device: cpu " + compare_defaults["cpu"] + "; cuda " + compare_defaults["cuda"] + ")")
    c.add_argument("--autoschedule-timeout", type=int, default=300, help="seconds per autoscheduled kernel")
    c.add_argument("--rounds", type=int, default=2, help="measure everything this many times, keep the best median")
    c.add_argument("--markdown", help="also write the table here")
    c.add_argument("--plan", help="write the comparison's candidates here as a plan for `build` instead of "
                                  "building and measuring them (the split flow; needed on CUDA)")
    c.add_argument("--from-log", action="store_true",
                   help="print the table from the tuning log (results measured elsewhere and merged with "
                        "merge --replace) without building or measuring")
    c.set_defaults(fn=cmd_compare)

    pl = sub.add_parser("plan", help="propose a generation of candidates to measure on another machine")
    pl.add_argument("--strategy", default="evolution", choices=["evolution", "random"])
    pl.add_argument("--candidates", type=int, default=20, help="new candidates per variant")
    pl.add_argument("--out", required=True, help="the plan (JSON) for `build`")
    pl.set_defaults(fn=cmd_plan)

    pk = sub.add_parser("pick", help="choose the winners from the tuning log (after merge)")
    pk.add_argument("--min-gain", type=float, default=0.05, help="keep the start unless beaten by this much")
    pk.add_argument("--write", action="store_true", help="write the winners into schedules/forward.json")
    pk.set_defaults(fn=cmd_pick)

    b = sub.add_parser("build", help="compile a plan's candidates (needs Halide)")
    b.add_argument("--plan", required=True, help='{"candidates": [candidate + "cases"]}')
    b.add_argument("--out", required=True)
    b.add_argument("--autoschedule-timeout", type=int, default=900, help="seconds per autoscheduled kernel")
    b.set_defaults(fn=cmd_build)

    m = sub.add_parser("measure", help="time a build's candidates (needs only the runner)")
    m.add_argument("--dir", required=True)
    m.add_argument("--results", required=True)
    m.add_argument("--min-total-ms", type=float, help="repeat a quick case until its timed runs add up to this "
                                                        "(the runner's default: 300)")
    m.add_argument("--min-warmup-ms", type=float, help="warm up each case for at least this long (a GPU's clock)")
    m.set_defaults(fn=cmd_measure)

    g = sub.add_parser("merge", help="add measured results to the tuning log")
    g.add_argument("--dir", required=True)
    g.add_argument("--results", required=True)
    g.add_argument("--replace", action="store_true",
                   help="log results of candidates the log already holds too (the newest record counts): "
                        "a comparison re-measures the tuned and hand-written schedules beside the autoschedulers")
    g.set_defaults(fn=cmd_merge)

    args = p.parse_args()
    if args.pass_ == "backward" and getattr(args, "specialise", False):
        sys.exit("--specialise: layer-specialised kernels are forward kernels; leave out --pass backward")
    args.fn(args)


if __name__ == "__main__":
    main()
