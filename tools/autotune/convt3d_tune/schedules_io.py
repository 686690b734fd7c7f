"""Reading and writing schedules/forward.json and schedules/backward.json. CMake reads only
their "forward" and "backward" sections (knobs per ISA and variant, or per ISA and gradient
with "<gradient>:<variant>" entries over them); the tuner also keeps there the hand-written
knobs it started from ("hand_written", the same layout) and where each tuned entry came
from ("tuned")."""
import copy
import datetime

from . import project


def knobs_for(schedules, section, isa, variant):
    """The knobs CMake would pass for (isa, variant): the class default, then the variant's."""
    per_isa = schedules[section].get(isa, {})
    return dict(per_isa.get("default", {}), **per_isa.get(variant, {}))


def gradient_knobs_for(schedules, section, isa, name):
    """The knobs CMake passes for a gradient kernel "<gradient>:<variant>": the class default,
    the gradient's, then the kernel's own entry."""
    per_isa = schedules[section].get(isa, {})
    knobs = {}
    for entry in ("default", project.gradient_of(name), name):
        knobs.update(per_isa.get(entry, {}))
    return knobs


def _knobs_in(schedules, section, isa, variant):
    """A variant's or gradient kernel's knobs in `section`, else in the one CMake reads."""
    if project.gradient_of(variant) != "forward":
        return gradient_knobs_for(schedules, section or "backward", isa, variant)
    return knobs_for(schedules, section or "forward", isa, variant)


def hand_written_knobs(schedules, isa, variant):
    """The knobs a variant had before tuning (schedules: the file that holds it)."""
    return _knobs_in(schedules, "hand_written" if "hand_written" in schedules else None, isa, variant)


def shipped_knobs(schedules, isa, variant):
    """The knobs the build gives a variant or gradient kernel now: its tuned entry, else the
    hand-written one (schedules: the file that holds it)."""
    return _knobs_in(schedules, None, isa, variant)


def schedule_file(name):
    return project.SCHEDULE_FILE if project.gradient_of(name) == "forward" else project.BACKWARD_SCHEDULE_FILE


def write_all_winners(isa, winners):
    """Forward winners into forward.json, gradient kernels' into backward.json; returns the
    files written."""
    written = []
    for path, section in ((project.SCHEDULE_FILE, "forward"), (project.BACKWARD_SCHEDULE_FILE, "backward")):
        mine = {n: w for n, w in winners.items() if schedule_file(n) == path}
        if mine:
            write_winners(path, isa, mine, section)
            written.append(path)
    return written


def write_winners(path, isa, winners, section="forward"):
    """winners: {variant, layer or gradient kernel name: (knobs, provenance)}. Variants go to
    <section>.<isa> (gradient kernels under their "<gradient>:<variant>" name), layers to
    layers.<isa>.<key>. Keeps the pre-tuning knobs as hand_written."""
    schedules = project.load_json(path)
    if "hand_written" not in schedules:
        schedules["hand_written"] = copy.deepcopy(schedules[section])
    tuned = schedules.setdefault("tuned", {}).setdefault(isa, {})
    for name, (knobs, provenance) in winners.items():
        if name.startswith(project.LAYER_PREFIX):
            key = name[len(project.LAYER_PREFIX):]
            schedules.setdefault("layers", {}).setdefault(isa, {})[key] = knobs
        else:
            key = name
            schedules[section].setdefault(isa, {})[key] = knobs
        tuned[key] = dict(provenance, date=datetime.date.today().isoformat())
    project.write_json(path, schedules)
