"""The tuning loop on one machine: propose a batch, build it (in parallel), measure it (one
at a time, after the builds, so that compiling never disturbs a timing), log, repeat."""
import random
import time

from . import build, log as tuning_log, measure, project, search
from .space import Space


# Candidates that took longer than this to compile are kept for the noise check (ci_block
# tiles take minutes: avx512 k4s2_g1 about 270 s, two builds at a time; hence also the
# build timeout), the others are rebuilt if needed.
KEEP_BUILDS_OVER_S = 20


class Setup:
    """Where things are and how hard to try."""

    def __init__(self, generator, runner, work_dir, suite=None, jobs=2, threads=2, repeats=5,
                 build_timeout_s=900, run_timeout_s=600):
        self.generator, self.runner, self.work_dir, self.suite = generator, runner, work_dir, suite
        self.jobs, self.threads, self.repeats = jobs, threads, repeats
        self.build_timeout_s, self.run_timeout_s = build_timeout_s, run_timeout_s


def evaluate(setup, tlog, cands, cases_of):
    """Builds and measures the candidates not in the log; returns their log records."""
    todo = [c for c in cands if c.id not in tlog]
    lib_dir = setup.work_dir / "candidates"
    builds = build.build_many(todo, setup.generator, lib_dir, setup.jobs, setup.build_timeout_s, setup.threads)
    for c in todo:
        b = builds[c.id]
        if b["status"] != "built":
            tlog.add(c, b, {"status": b["status"], "why": b.get("why", "")})
            continue
        m = measure.measure_one(setup.runner, lib_dir / f"{c.id}.so", cases_of(c), setup.repeats,
                                setup.run_timeout_s, setup.suite, c.isa, gradient=project.gradient_of(c.variant))
        tlog.add(c, b, m)
        if b["build_s"] < KEEP_BUILDS_OVER_S:
            (lib_dir / f"{c.id}.so").unlink(missing_ok=True)  # rebuilt in seconds if ever needed
    return [tlog.records[c.id] for c in cands]


def would_pass(deadline, batch_s):
    """Whether a batch started now, taking as long as the batches so far did on average,
    would end after the deadline: a started batch is finished, and where candidates take
    minutes to compile (ci_block tiles) that alone overran a 25-minute budget by 11."""
    if deadline is None:
        return False
    expected = sum(batch_s) / len(batch_s) if batch_s else 0.0
    return time.time() + expected > deadline


def search_variant(setup, tlog, variant, isa, cases, strategy, budget, rng, seeds=(), batch=2,
                   deadline=None, progress=None, relative_to_first=False):
    """Tries `budget` distinct candidates of (variant, isa) on `cases`, seeds first, then
    as `strategy` proposes. The objective is the geometric mean time over the cases or, with
    relative_to_first, the worst ratio to the first candidate (tuning_log.relative_objective).
    Returns ([(candidate, objective)] in the order tried, the objective function)."""
    space = Space(variant, isa)
    propose = search.STRATEGIES[strategy]
    measured, tried = [], set()
    score = lambda record: tuning_log.objective(record, cases)  # noqa: E731
    queue = [c for c in seeds]
    batch_s = []  # how long each batch took, builds and timing
    while len(measured) < budget and not would_pass(deadline, batch_s):
        n = min(batch, budget - len(measured))
        if not queue:
            queue = propose(space, measured, tried, rng, n)
            if not queue:
                break  # the space is exhausted
        chunk, queue = queue[:n], queue[n:]
        chunk = [c for c in chunk if c.id not in tried]
        started = time.time()
        records = evaluate(setup, tlog, chunk, lambda _: cases)
        batch_s.append(time.time() - started)
        for c, record in zip(chunk, records):
            if relative_to_first and not measured:
                score = tuning_log.relative_objective(record, cases)
            tried.add(c.id)
            measured.append((c, score(record)))
            if progress:
                progress(c, measured)
    return measured, score


def confirm_best(setup, tlog, measured, cases, score, keep=3, rounds=5, margin=0.10, start=None, min_gain=0.05):
    """Noise check: the best `keep` within `margin` of the best, and the starting point, are
    measured again, in turns call by call in one process (measure_in_turns), and the one
    with the lowest median objective (`score` of a result) over the rounds wins; but the
    starting point stays unless the winner beats it by `min_gain` (this machine's run-to-run
    noise is about that size, and a change that is not clearly faster is not worth making).
    Returns (candidate, objective)."""
    ok = sorted(((obj, c) for c, obj in measured if obj is not None), key=lambda t: t[0])
    if not ok:
        return None, None
    close = [c for obj, c in ok[:keep] if obj <= ok[0][0] * (1 + margin)]
    ran = {c.id for _, c in ok}
    if start and start.id in ran and start.id not in {c.id for c in close}:
        close.append(start)
    if len(close) == 1:
        return close[0], ok[0][0]
    lib_dir = setup.work_dir / "candidates"
    build.build_many(close, setup.generator, lib_dir, setup.jobs, setup.build_timeout_s, setup.threads)
    samples = {c.id: [score(tlog.records[c.id])] for c in close}
    libraries = [lib_dir / f"{c.id}.so" for c in close]
    for _ in range(rounds):
        results = measure.measure_in_turns(setup.runner, libraries, cases, setup.repeats, setup.run_timeout_s,
                                           setup.suite, close[0].isa,
                                           gradient=project.gradient_of(close[0].variant))
        for c, m in zip(close, results):
            obj = score(m)
            if obj is not None:
                samples[c.id].append(obj)
    medians = {cid: sorted(s)[len(s) // 2] for cid, s in samples.items()}
    best = min(close, key=lambda c: medians[c.id])
    if start and start.id in medians and medians[best.id] > medians[start.id] * (1 - min_gain):
        best = start
    return best, medians[best.id]
