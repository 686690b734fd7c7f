"""Reading and writing schedules/forward.json. CMake reads only its "forward" section (the
knobs per ISA and variant); the tuner also keeps there the hand-written knobs it started
from ("hand_written", the same layout) and where each tuned entry came from ("tuned")."""
import copy
import datetime

from . import project


def knobs_for(schedules, section, isa, variant):
    """The knobs CMake would pass for (isa, variant): the class default, then the variant's."""
    per_isa = schedules[section].get(isa, {})
    return dict(per_isa.get("default", {}), **per_isa.get(variant, {}))


def hand_written_knobs(schedules, isa, variant):
    section = "hand_written" if "hand_written" in schedules else "forward"
    return knobs_for(schedules, section, isa, variant)


def write_winners(path, isa, winners):
    """winners: {variant or layer name: (knobs, provenance)}. Variants go to forward.<isa>,
    layers to layers.<isa>.<key>. Keeps the pre-tuning variant knobs as hand_written."""
    schedules = project.load_json(path)
    if "hand_written" not in schedules:
        schedules["hand_written"] = copy.deepcopy(schedules["forward"])
    tuned = schedules.setdefault("tuned", {}).setdefault(isa, {})
    for name, (knobs, provenance) in winners.items():
        if name.startswith(project.LAYER_PREFIX):
            key = name[len(project.LAYER_PREFIX):]
            schedules.setdefault("layers", {}).setdefault(isa, {})[key] = knobs
        else:
            key = name
            schedules["forward"].setdefault(isa, {})[key] = knobs
        tuned[key] = dict(provenance, date=datetime.date.today().isoformat())
    project.write_json(path, schedules)
