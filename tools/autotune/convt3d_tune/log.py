"""The tuning log: one JSON line per candidate measured (the candidate, how its build went,
its results per case). Appending as it goes makes a run resumable: a candidate already in
the log is never built or measured again."""
import json
import math
from pathlib import Path

from .space import Candidate


class TuningLog:
    def __init__(self, path):
        self.path = Path(path)
        self.records = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    r = json.loads(line)
                    self.records[r["id"]] = r

    def __contains__(self, cand_id):
        return cand_id in self.records

    def add(self, candidate, build, measurement):
        r = dict(candidate.to_json(), build=build, **measurement)
        self.records[r["id"]] = r
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(r) + "\n")
        return r

    def candidate(self, cand_id):
        return Candidate.from_json(self.records[cand_id])


def case_times(record, cases):
    """The median time (ms) of each case, or None unless the candidate ran all correctly."""
    if not record or record.get("status") != "ok":
        return None
    times = [record["cases"].get(c, {}).get("median_ms") for c in cases]
    return None if any(t is None for t in times) else times


def objective(record, cases):
    """Geometric mean of the median times over `cases` (ms); None unless all ran correctly."""
    times = case_times(record, cases)
    return None if times is None else math.exp(sum(math.log(t) for t in times) / len(times))


def relative_objective(reference, cases):
    """The objective when one schedule serves several cases and none may get slower: the
    worst ratio over the cases of a candidate's time to the reference's (the schedule the
    search started from). A single case gives its time ratio."""
    ref = case_times(reference, cases)

    def worst_ratio(record):
        times = case_times(record, cases)
        return None if times is None else max(t / r for t, r in zip(times, ref))
    return worst_ratio if ref else (lambda record: objective(record, cases))
