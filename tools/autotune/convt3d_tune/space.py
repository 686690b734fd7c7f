"""The schedule spaces (schedules/forward_space.json, and schedules/backward_space.json for
the gradient kernels) and candidates in them. A candidate is one variant compiled for one
ISA with one choice of knobs; its id names it everywhere (the tuning log, the compiled
library)."""
import hashlib
import itertools
import json
import random

from . import project


class Candidate:
    def __init__(self, variant, isa, knobs, template=None, autoscheduler=None, estimate_input=None):
        self.variant = variant
        self.isa = isa
        self.knobs = dict(sorted(knobs.items()))
        self.template = template
        # Halide autoscheduler candidates: no knobs; the autoscheduler schedules the same
        # algorithm for the estimates of one suite case.
        self.autoscheduler = autoscheduler
        self.estimate_input = estimate_input

    def key(self):
        return {"variant": self.variant, "isa": self.isa, "knobs": self.knobs,
                "autoscheduler": self.autoscheduler, "estimate_input": self.estimate_input}

    @property
    def id(self):
        return hashlib.sha1(json.dumps(self.key(), sort_keys=True).encode()).hexdigest()[:12]

    def describe(self):
        if self.autoscheduler:
            return f"{self.variant}/{self.isa} {self.autoscheduler}"
        return f"{self.variant}/{self.isa} " + " ".join(f"{k}={v}" for k, v in self.knobs.items())

    def to_json(self):
        return dict(self.key(), id=self.id, template=self.template)

    @staticmethod
    def from_json(j):
        return Candidate(j["variant"], j["isa"], j["knobs"], j.get("template"), j.get("autoscheduler"),
                         j.get("estimate_input"))


class Space:
    """The candidates of one (variant, ISA): every template that applies, every knob value
    whose register tile fits."""

    def __init__(self, variant, isa, space=None):
        space = space or project.load_json(project.space_file(variant))
        params = project.kernel_params(variant)
        self.variant, self.isa = variant, isa
        self.device = project.device_of(isa)
        self.registers = space["registers"].get(isa)
        self.cuda = space.get("cuda", {})
        self.templates = {}
        for name, t in space["templates"].items():
            needs = set(t["requires"])
            if t.get("device", "cpu") != self.device or t.get("gradient", "forward") != project.gradient_of(variant):
                continue
            if "fixed_groups" in needs and params.get("fixed_groups") != "1":
                continue
            if "phases" in needs and not project.has_phases(params):
                continue
            if "over_channels" in needs and params.get("over_channels") != "1":
                continue
            if "over_x" in needs and params.get("over_channels") == "1":
                continue
            self.templates[name] = t

    def fits(self, knobs):
        if self.device == "cuda":
            low, high = self.cuda["threads"]
            return (low <= knobs["block_x"] * knobs["block_y"] <= high
                    and knobs["tile_c"] * knobs["tile_x"] <= self.cuda["max_tile"])
        # Accumulators, then one operand set held while the other streams: tile_c weight
        # broadcasts or the tile's input vectors, whichever is fewer; one more to load into.
        # (The backward channel tiles: channel_vectors vectors by channel_tile broadcasts.)
        vectors, tile = knobs.get("vectors", knobs.get("channel_vectors")), knobs.get("tile_c", knobs.get("channel_tile"))
        if vectors is None or tile is None:
            return True  # no register tile among the knobs (grad_weight's x-vectorised reduction)
        inputs = vectors * knobs.get("tile_y", 1)
        tiles = [tile]
        if knobs.get("over_input") and knobs.get("over_input_tile"):
            tiles.append(knobs["over_input_tile"])  # grad_weight's formulation over input channels
        if not all(inputs * t + min(t, inputs) + 1 <= self.registers for t in tiles):
            return False
        # grad_weight's tile of x taps: vectors x channels x taps accumulators, the channels'
        # broadcasts held (each serves every tap), one grad_output vector to load into.
        taps = knobs.get("x_taps_tile", 0)
        channels = knobs.get("x_taps_tile_ci", self.default("x_taps_tile_ci"))
        return not taps or vectors * channels * taps + channels + 1 <= self.registers

    def default(self, knob):
        """A knob's value where a set of knobs leaves it out: its templates' default (the
        generator's), None where no template has one."""
        for t in self.templates.values():
            if knob in t.get("defaults", {}):
                return t["defaults"][knob]
        return None

    def make(self, template, knobs):
        t = self.templates[template]
        return Candidate(self.variant, self.isa, dict(t["fixed"], **knobs), template)

    def all(self):
        out = []
        for name, t in self.templates.items():
            keys = list(t["knobs"])
            for values in itertools.product(*(t["knobs"][k] for k in keys)):
                knobs = dict(zip(keys, values))
                if self.fits(knobs):
                    out.append(self.make(name, knobs))
        return out

    def random(self, rng):
        return rng.choice(self.all())

    def template_of(self, knobs):
        """The template a set of knobs (e.g. a hand-written schedule) belongs to."""
        for name, t in self.templates.items():
            if all(knobs.get(k, 0) == v for k, v in t["fixed"].items()):
                return name
        return None

    def from_knobs(self, knobs):
        """The candidate for knobs as schedules/forward.json holds them (template knobs
        left out where they take their default)."""
        template = self.template_of(knobs)
        t = self.templates[template]
        return self.make(template, {k: knobs.get(k, t.get("defaults", {}).get(k)) for k in t["knobs"]})

    def mutate(self, c, rng):
        """A neighbour: one knob moved one step (or, now and then, anywhere) in its list."""
        t = self.templates[c.template]
        for _ in range(20):
            knobs = {k: c.knobs[k] for k in t["knobs"]}
            k = rng.choice(list(t["knobs"]))
            values = t["knobs"][k]
            i = values.index(knobs[k]) if knobs[k] in values else 0
            if rng.random() < 0.25:
                knobs[k] = rng.choice(values)
            else:
                knobs[k] = values[max(0, min(len(values) - 1, i + rng.choice((-1, 1))))]
            if self.fits(knobs) and knobs != {k: c.knobs[k] for k in t["knobs"]}:
                return self.make(c.template, knobs)
        return self.random(rng)

    def crossover(self, a, b, rng):
        """Each knob from one parent or the other (parents of one template)."""
        t = self.templates[a.template]
        for _ in range(10):
            knobs = {k: (a if rng.random() < 0.5 else b).knobs[k] for k in t["knobs"]}
            if self.fits(knobs):
                return self.make(a.template, knobs)
        return self.mutate(a, rng)
