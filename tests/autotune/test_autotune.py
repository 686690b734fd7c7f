"""Tests of the autotuner (tools/autotune), run by CTest with the built generator and runner."""
import json
import os
import random
import shutil
import subprocess
import sys
import time
import unittest
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "autotune"
sys.path.insert(0, str(TOOL))

from convt3d_tune import compare, measure, project, schedules_io, tuner  # noqa: E402
from convt3d_tune.space import Candidate, Space  # noqa: E402

GENERATOR = os.environ["CONVT3D_GENERATOR"]
RUNNER = os.environ["CONVT3D_TUNE_RUNNER"]
WORK = Path(os.environ["CONVT3D_TEST_WORK_DIR"])


def autotune(*args):
    cmd = [sys.executable, str(TOOL / "convt3d_autotune.py"), "--generator", GENERATOR, "--runner", RUNNER,
           "--repeats", "1"] + list(args)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def log_lines(work, isa="avx2"):
    return [json.loads(line) for line in (work / f"tune-{isa}.jsonl").read_text().splitlines()]


def describe(device):
    """The runner's suite cases for a device, with the variant the runtime picks for each."""
    return json.loads(subprocess.run([RUNNER, "--describe", "--suite", str(project.SUITE_FILE), "--device", device],
                                     check=True, capture_output=True, text=True).stdout)


def assert_candidates_fit(test, name, isa):
    """Kernel `name`'s space on `isa` has candidates, each fits the registers, ids unique."""
    space = Space(name, isa)
    cands = space.all()
    test.assertTrue(cands, f"{name}/{isa}")
    test.assertTrue(all(space.fits(c.knobs) for c in cands))
    test.assertEqual(len({c.id for c in cands}), len(cands), "ids must be unique")


class SpaceTest(unittest.TestCase):
    def test_every_variant_and_isa_has_candidates_that_fit(self):
        for variant in project.variant_params():
            for isa in project.isa_targets():
                assert_candidates_fit(self, variant, isa)

    def test_templates_follow_the_variant(self):
        self.assertEqual(set(Space("k2s2_g1", "avx2").templates), {"over_channels", "over_x", "phase_major"})
        self.assertEqual(set(Space("generic", "avx2").templates), {"over_x"})
        self.assertEqual(set(Space("s1_g1", "avx2").templates), {"over_channels", "over_x"})

    def test_register_tiles_count_rows_and_the_smaller_operand_set(self):
        space = Space("generic_g1", "avx2")
        fits = lambda v, c, y: space.fits({"vectors": v, "tile_c": c, "tile_y": y})  # noqa: E731
        self.assertTrue(fits(1, 3, 4))   # 12 accumulators, 3 broadcasts held, 1 input vector
        self.assertTrue(fits(4, 3, 1))   # 12 accumulators, 3 broadcasts held
        self.assertFalse(fits(2, 3, 3))  # 18 accumulators
        self.assertFalse(fits(1, 5, 3))  # 15 accumulators + 3 input vectors
        knobs = {c.knobs["tile_y"] for c in space.all() if c.template == "over_x"}
        self.assertEqual(knobs, {1, 2, 3, 4})

    def test_cuda_has_its_own_template_within_the_thread_and_register_limits(self):
        space = Space("k3s2", "cuda")
        self.assertEqual(set(space.templates), {"cuda_tiled"})
        self.assertNotIn("cuda_tiled", Space("k3s2", "avx2").templates)
        limits = project.load_json(project.SPACE_FILE)["cuda"]
        for c in space.all():
            threads = c.knobs["block_x"] * c.knobs["block_y"]
            self.assertTrue(limits["threads"][0] <= threads <= limits["threads"][1], c.describe())
            self.assertLessEqual(c.knobs["tile_c"] * c.knobs["tile_x"], limits["max_tile"], c.describe())
        # forward.json's CUDA knobs leave tile_x out: the template's default fills it in.
        start = space.from_knobs({"block_x": 32, "block_y": 4, "tile_c": 4})
        self.assertEqual(start.knobs, {"block_x": 32, "block_y": 4, "tile_c": 4, "tile_x": 1})
        self.assertEqual(project.device_of("cuda"), "cuda")
        self.assertIn("-cuda-cuda_capability_", project.isa_targets()["cuda"])

    def test_mutation_and_crossover_stay_in_the_space(self):
        rng = random.Random(7)
        space = Space("k3s2_g1", "avx2")
        ids = {c.id for c in space.all()}
        for _ in range(200):
            a, b = space.random(rng), space.random(rng)
            self.assertIn(space.mutate(a, rng).id, ids)
            if a.template == b.template:
                self.assertIn(space.crossover(a, b, rng).id, ids)

    def test_layer_names_are_the_keys_of_forward_json_layers(self):
        seed = {"Cin": 16, "Cout": 33, "kernel": [3, 5, 2], "stride": [2, 1, 1], "padding": [0, 4, 2],
                "dilation": [1, 1, 1], "groups": 1}
        name = project.layer_name(seed)
        # The key format of cmake/Convt3dSpecialise.cmake (and forward.json's "about").
        self.assertEqual(name, "layer:in16_out33_k3x5x2_s2x1x1_p0x4x2_d1x1x1_g1")
        self.assertEqual(project.layer_params(name),
                         {"stride": "2,1,1", "kernel": "3,5,2", "dilation": "1,1,1", "padding": "0,4,2",
                          "fixed_groups": "1", "in_channels": "16", "out_channels": "33"})
        with self.assertRaises(ValueError):
            project.layer_params("layer:in16_out33_k3x5x2")
        # x (W) has stride 1, kernel 2: phase-major is possible (one phase), and groups == 1.
        self.assertEqual(set(Space(name, "avx2").templates), {"over_channels", "over_x", "phase_major"})
        grouped = dict(seed, groups=4, Cout=32)
        self.assertEqual(set(Space(project.layer_name(grouped), "avx2").templates), {"over_x", "phase_major"})

    def test_hand_written_schedules_are_in_a_template(self):
        schedules = project.load_json(project.SCHEDULE_FILE)
        for isa in project.isa_targets():
            for variant in project.variant_params():
                knobs = schedules_io.hand_written_knobs(schedules, isa, variant)
                self.assertIsNotNone(Space(variant, isa).template_of(knobs), f"{variant}/{isa}: {knobs}")


CPU_ISAS = [isa for isa in project.isa_targets() if project.device_of(isa) == "cpu"]


def gradient_kernels():
    """Every "<gradient>:<variant>" the backward kernels file defines for grad_input and grad_weight."""
    text = project.BACKWARD_CMAKE.read_text()
    names = []
    for gradient in project.GRADIENTS:
        line = next(l for l in text.splitlines() if l.startswith(f"set(CONVT3D_BACKWARD_VARIANTS_{gradient} "))
        names += [project.gradient_kernel_name(gradient, v) for v in line.rstrip(")").split()[1:]]
    return names


class BackwardSpaceTest(unittest.TestCase):
    def test_every_gradient_kernel_and_cpu_isa_has_candidates_that_fit(self):
        kernels = gradient_kernels()
        self.assertIn("grad_input:g1", kernels)
        self.assertIn("grad_weight:dw", kernels)
        for name in kernels:
            for isa in CPU_ISAS:
                assert_candidates_fit(self, name, isa)

    def test_the_formulation_over_input_channels_counts_its_own_register_tile(self):
        space = Space("grad_weight:g1", "avx2")
        fits = lambda tile, over_input: space.fits({"channel_vectors": 2, "channel_tile": 4,  # noqa: E731
                                                   "over_input": over_input, "over_input_tile": tile})
        self.assertTrue(fits(6, 1))   # 12 accumulators, 2 input vectors held, 1 broadcast
        self.assertFalse(fits(8, 1))  # 16 accumulators
        self.assertTrue(fits(8, 0))   # the formulation is off: its tile is never built
        tiles = {c.knobs["over_input_tile"] for c in space.all() if c.knobs.get("over_input")}
        self.assertEqual(tiles, {0, 3, 4, 5, 6})

    def test_the_tile_of_x_taps_counts_its_accumulators_and_broadcasts(self):
        space = Space("grad_weight:g1", "avx2")
        fits = lambda taps, ci: space.fits({"channel_vectors": 2, "channel_tile": 4,  # noqa: E731
                                            "x_taps_tile": taps, "x_taps_tile_ci": ci})
        self.assertTrue(fits(3, 2))   # 12 accumulators, 2 broadcasts, 1 grad_output vector
        self.assertFalse(fits(4, 2))  # 16 accumulators
        self.assertTrue(fits(0, 4))   # off: no such tile
        shipped = project.load_json(project.BACKWARD_SCHEDULE_FILE)["backward"]["avx2"]["grad_weight"]
        self.assertTrue(space.fits(shipped))

    def test_templates_follow_the_gradient_and_the_variant(self):
        self.assertEqual(set(Space("grad_input:g1", "avx2").templates), {"grad_input_channels"})
        self.assertEqual(set(Space("grad_input:dw", "avx2").templates), {"grad_input_over_x"})
        self.assertEqual(set(Space("grad_weight:cv", "avx2").templates), {"grad_weight_channels"})
        self.assertEqual(set(Space("grad_weight:generic", "avx2").templates), {"grad_weight_over_x"})
        self.assertEqual(project.gradient_of("grad_input:g1"), "grad_input")
        self.assertEqual(project.gradient_of("k3s2_g1"), "forward")
        self.assertEqual(project.gradient_of("layer:in4_out4_k3x3x3_s1x1x1_p0x0x0_d1x1x1_g1"), "forward")
        self.assertEqual(project.kernel_params("grad_input:dw"), {"group_in_channels": "1", "pad_per_task": "1"})
        self.assertEqual(project.kernel_params("grad_weight:generic"), {})
        forward = Path("/b/generators/convt3d_generators")
        self.assertEqual(project.generator_executable(forward, "grad_weight:g1"),
                         Path("/b/generators/convt3d_backward_generators"))
        self.assertEqual(project.generator_name("grad_weight:g1"), "conv_transpose3d_grad_weight")
        self.assertEqual(project.generator_executable(forward, "k3s2_g1"), forward)
        self.assertEqual(project.generator_name("k3s2_g1"), "conv_transpose3d_forward")

    def test_hand_written_schedules_are_in_a_template(self):
        schedules = project.load_json(project.BACKWARD_SCHEDULE_FILE)
        for isa in CPU_ISAS:
            for name in gradient_kernels():
                knobs = schedules_io.hand_written_knobs(schedules, isa, name)
                space = Space(name, isa)
                self.assertIsNotNone(space.template_of(knobs), f"{name}/{isa}: {knobs}")
                start = space.from_knobs(knobs)
                self.assertTrue(all(knobs.get(k) == v for k, v in start.knobs.items()
                                    if k in knobs), f"{name}/{isa}: {start.knobs} from {knobs}")

    def test_tuned_entries_name_the_cpu_they_were_measured_on(self):
        described = project.cpu_description()
        self.assertTrue(described.endswith(f", {os.cpu_count()} cores"), described)
        cpuinfo = Path("/proc/cpuinfo")
        if cpuinfo.exists() and "model name" in cpuinfo.read_text():
            self.assertNotIn("unknown CPU", described)
            self.assertRegex(described, r"\(family \d+, model \d+\)")

    def test_winners_go_to_the_kernels_own_entries_over_the_gradients_knobs(self):
        path = WORK / "backward.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(project.BACKWARD_SCHEDULE_FILE, path)
        before = project.load_json(path)
        knobs = {"channel_vectors": 1, "channel_tile": 8, "block_kz": 0, "small_weights": 0}
        schedules_io.write_winners(path, "avx2", {"grad_input:g1": (knobs, {"cases": ["dilated_k3d2"]})}, "backward")
        after = project.load_json(path)
        self.assertEqual(after["backward"]["avx2"]["grad_input:g1"], knobs)
        self.assertEqual(after["hand_written"], before.get("hand_written", before["backward"]))
        self.assertEqual(after["backward"]["avx2"]["grad_input"], before["backward"]["avx2"]["grad_input"])
        self.assertIn("date", after["tuned"]["avx2"]["grad_input:g1"])
        merged = schedules_io.gradient_knobs_for(after, "backward", "avx2", "grad_input:g1")
        self.assertEqual({k: merged[k] for k in knobs}, knobs)
        self.assertEqual(merged["vectors"], before["backward"]["avx2"]["grad_input"]["vectors"])
        self.assertEqual(schedules_io.hand_written_knobs(after, "avx2", "grad_input:g1"),
                         schedules_io.gradient_knobs_for(before, "backward", "avx2", "grad_input:g1"))


class RunnerTest(unittest.TestCase):
    def test_a_kernel_that_writes_zeros_is_rejected(self):
        r = measure.measure_one(RUNNER, os.environ["CONVT3D_ZEROS_CANDIDATE"], ["tiny_latency"], 1, 120)
        self.assertEqual(r["status"], "wrong", r)
        self.assertNotIn("median_ms", r["cases"]["tiny_latency"], "a wrong kernel must not be timed")

    def test_a_kernel_for_other_parameters_is_rejected(self):
        work = WORK / "other"
        shutil.rmtree(work, ignore_errors=True)
        # k2s2 (stride 2) on tiny_latency (stride 1): the kernel refuses; logged, never chosen.
        plan = {"candidates": [{"variant": "k2s2", "isa": "avx2", "cases": ["tiny_latency"],
                                "knobs": {"vectorize_c": 0, "phase_major": 0, "vectors": 1, "tile_c": 1,
                                          "ci_inner": 0}}]}
        (work).mkdir(parents=True)
        (work / "plan.json").write_text(json.dumps(plan))
        autotune("build", "--plan", str(work / "plan.json"), "--out", str(work / "cands"))
        autotune("measure", "--dir", str(work / "cands"), "--results", str(work / "results.jsonl"))
        result = json.loads((work / "results.jsonl").read_text())
        self.assertEqual(result["status"], "error")
        self.assertIn("candidate failed", result["cases"]["tiny_latency"]["why"])


    def test_candidates_given_together_are_checked_each_and_timed_in_turns(self):
        work = WORK / "in_turns"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        plan = {"candidates": [{"variant": "s1", "isa": "avx2", "cases": ["tiny_latency"],
                                "knobs": {"vectorize_c": 0, "phase_major": 0, "vectors": 1, "tile_c": 2,
                                          "ci_inner": 1}}]}
        (work / "plan.json").write_text(json.dumps(plan))
        autotune("build", "--plan", str(work / "plan.json"), "--out", str(work / "cands"))
        (good,) = (work / "cands").glob("*.so")
        zeros = os.environ["CONVT3D_ZEROS_CANDIDATE"]
        r = subprocess.run([RUNNER, "--library", zeros, "--library", str(good), "--case", "tiny_latency",
                            "--repeats", "4"], capture_output=True, text=True, check=True)
        out = json.loads(r.stdout)
        self.assertEqual(out["libraries"], [zeros, str(good)])
        wrong, ok = out["cases"]["tiny_latency"]
        self.assertEqual(wrong["status"], "wrong", wrong)
        self.assertNotIn("median_ms", wrong, "a wrong kernel must not be timed")
        self.assertEqual(ok["status"], "ok", ok)
        self.assertGreater(ok["fastest_ms"], 0)
        self.assertLessEqual(ok["fastest_ms"], ok["p25_ms"])
        self.assertLessEqual(ok["p25_ms"], ok["median_ms"])
        # The tuner's noise check reads the same run as one result per candidate.
        wrong, ok = measure.measure_in_turns(RUNNER, [zeros, good], ["tiny_latency"], 4, 120)
        self.assertEqual(wrong["status"], "wrong", wrong)
        self.assertEqual(ok["status"], "ok", ok)
        self.assertGreater(ok["cases"]["tiny_latency"]["median_ms"], 0)

    def test_a_gradient_candidate_is_checked_as_its_gradient(self):
        work = WORK / "gradient"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        plan = {"candidates": [{"variant": "grad_input:generic", "isa": "avx2", "cases": ["tiny_latency"],
                                "knobs": {"vectors": 1, "tile_c": 2}}]}
        (work / "plan.json").write_text(json.dumps(plan))
        autotune("build", "--plan", str(work / "plan.json"), "--out", str(work / "cands"))
        autotune("measure", "--dir", str(work / "cands"), "--results", str(work / "results.jsonl"))
        result = json.loads((work / "results.jsonl").read_text())
        self.assertEqual(result["status"], "ok", result)
        self.assertGreater(result["cases"]["tiny_latency"]["median_ms"], 0)
        # The same library taken for a grad_weight kernel: the check refuses it.
        (library,) = (work / "cands").glob("*.so")
        r = measure.measure_one(RUNNER, library, ["tiny_latency"], 1, 120, gradient="grad_weight")
        self.assertNotEqual(r["status"], "ok", r)
        self.assertNotIn("median_ms", r["cases"]["tiny_latency"])


class DeadlineTest(unittest.TestCase):
    def test_a_batch_that_would_end_past_the_deadline_is_not_started(self):
        self.assertFalse(tuner.would_pass(None, [1e6]))
        self.assertFalse(tuner.would_pass(time.time() + 10, []))  # nothing to go by yet: start
        self.assertFalse(tuner.would_pass(time.time() + 10, [2.0, 4.0]))
        self.assertTrue(tuner.would_pass(time.time() + 10, [15.0, 25.0]))
        self.assertTrue(tuner.would_pass(time.time() - 1, []))

    def test_the_search_stops_before_a_batch_it_could_not_finish(self):
        batches = []

        def slow_evaluate(setup, tlog, cands, cases_of):
            batches.append(len(cands))
            time.sleep(0.5)
            return [{"status": "ok", "cases": {}} for _ in cands]

        original = tuner.evaluate
        tuner.evaluate = slow_evaluate
        try:
            measured, _ = tuner.search_variant(None, None, "generic", "avx2", ["tiny_latency"], "random", 20,
                                               random.Random(1), batch=2, deadline=time.time() + 1.25)
        finally:
            tuner.evaluate = original
        # Batches of 0.5 s within 1.25 s: two fit, and a third would end at 1.5 s (the old
        # rule, a batch is started while there is time left, started it at 1.0 s).
        self.assertEqual(len(batches), 2)
        self.assertEqual(len(measured), 4)


class TuneTest(unittest.TestCase):
    def test_tune_logs_every_candidate_and_resumes(self):
        work = WORK / "tune"
        shutil.rmtree(work, ignore_errors=True)
        args = ["--work-dir", str(work), "--case", "tiny_latency", "tune", "--candidates", "3"]
        autotune(*args)
        first = log_lines(work)
        self.assertEqual(len(first), 3)
        self.assertTrue(all(r["variant"] == "s1" and r["status"] == "ok" for r in first), first)
        self.assertTrue(all(r["cases"]["tiny_latency"]["median_ms"] > 0 for r in first))
        # The search starts from what the build ships (s1's tuned entry), then the hand-written
        # knobs, so that tuning again cannot drop what an earlier run found.
        schedules = project.load_json(project.SCHEDULE_FILE)
        shipped = Space("s1", "avx2").from_knobs(schedules_io.shipped_knobs(schedules, "avx2", "s1"))
        hand = Space("s1", "avx2").from_knobs(schedules_io.hand_written_knobs(schedules, "avx2", "s1"))
        self.assertNotEqual(shipped.id, hand.id, "s1's tuned entry should differ from its hand-written one")
        self.assertEqual({r["id"] for r in first[:2]}, {shipped.id, hand.id})
        autotune(*args)  # the same search again: everything comes from the log
        self.assertEqual(len(log_lines(work)), 3)
        autotune(*args[:-1], "5")  # a larger budget adds only the new candidates
        self.assertEqual(len(log_lines(work)), 5)

    def test_backward_tunes_each_gradients_kernel(self):
        work = WORK / "backward"
        shutil.rmtree(work, ignore_errors=True)
        autotune("--work-dir", str(work), "--case", "tiny_latency", "--pass", "backward", "tune", "--candidates", "2")
        records = log_lines(work)
        self.assertEqual(sorted(r["variant"] for r in records), ["grad_input:generic"] * 2 + ["grad_weight:generic"] * 2)
        self.assertTrue(all(r["status"] == "ok" and r["cases"]["tiny_latency"]["median_ms"] > 0 for r in records),
                        records)

    def test_specialise_tunes_the_layer_of_a_case(self):
        work = WORK / "layer"
        shutil.rmtree(work, ignore_errors=True)
        autotune("--work-dir", str(work), "--case", "tiny_latency", "tune", "--specialise", "--candidates", "2")
        records = log_lines(work)
        self.assertEqual(len(records), 2)
        self.assertTrue(all(r["variant"] == "layer:in4_out4_k3x3x3_s1x1x1_p0x0x0_d1x1x1_g1" for r in records))
        self.assertTrue(all(r["status"] == "ok" for r in records), records)

    def test_split_build_measure_merge(self):
        work = WORK / "split"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        knobs = {"vectorize_c": 0, "phase_major": 0, "vectors": 2, "tile_c": 2, "ci_inner": 1}
        plan = {"candidates": [{"variant": "s1", "isa": "avx2", "knobs": knobs, "cases": ["tiny_latency"]}]}
        (work / "plan.json").write_text(json.dumps(plan))
        autotune("build", "--plan", str(work / "plan.json"), "--out", str(work / "cands"))
        autotune("measure", "--dir", str(work / "cands"), "--results", str(work / "results.jsonl"))
        autotune("--work-dir", str(work), "merge", "--dir", str(work / "cands"), "--results",
                 str(work / "results.jsonl"))
        (record,) = log_lines(work)
        self.assertEqual(record["status"], "ok")
        self.assertEqual(record["knobs"], knobs)

    def test_plan_build_measure_merge_pick_in_generations(self):
        work = WORK / "generations"
        shutil.rmtree(work, ignore_errors=True)
        common = ["--work-dir", str(work), "--case", "tiny_latency"]
        autotune(*common, "plan", "--candidates", "2", "--out", str(work / "plan1.json"))
        plan1 = json.loads((work / "plan1.json").read_text())["candidates"]
        self.assertEqual(len(plan1), 3, "the starting schedule, then two more")
        start_knobs = schedules_io.shipped_knobs(project.load_json(project.SCHEDULE_FILE), "avx2", "s1")
        self.assertEqual(Space("s1", "avx2").from_knobs(start_knobs).id, plan1[0]["id"])
        self.assertTrue(all(c["cases"] == ["tiny_latency"] and c["variant"] == "s1" for c in plan1))
        autotune("build", "--plan", str(work / "plan1.json"), "--out", str(work / "gen1"))
        autotune("measure", "--dir", str(work / "gen1"), "--results", str(work / "gen1.jsonl"))
        autotune(*common, "merge", "--dir", str(work / "gen1"), "--results", str(work / "gen1.jsonl"))
        self.assertEqual(len(log_lines(work)), 3)
        # The next generation proposes only what the log does not hold, the start included.
        autotune(*common, "plan", "--candidates", "2", "--out", str(work / "plan2.json"))
        plan2 = json.loads((work / "plan2.json").read_text())["candidates"]
        self.assertEqual(len(plan2), 2)
        self.assertFalse({c["id"] for c in plan2} & {c["id"] for c in plan1})
        out = autotune(*common, "pick")
        self.assertRegex(out, r"s1 on tiny_latency: s1/avx2 .*worst time ratio to the start \d\.\d{3}")
        self.assertIn("3 of 3 candidates ran correctly", out)


class CudaCompareTest(unittest.TestCase):
    """The comparison with Halide's autoschedulers on CUDA, through the split flow: plan the
    candidates here, build them here, measure where the GPU is, merge, print the table from
    the log. No GPU here: the measurements are a synthetic results file."""
    AUTOS = compare.DEFAULT_AUTOSCHEDULERS["cuda"].split(",")

    def test_the_plan_has_tuned_hand_written_and_autoscheduled_kernels_per_case(self):
        self.assertEqual([a.split(":")[0] for a in self.AUTOS], ["Anderson2021", "Li2018", "Mullapudi2016"])
        self.assertIn("parallelism=132", self.AUTOS[0])
        self.assertIn("experimental_gpu_schedule=1", self.AUTOS[2])
        work = WORK / "cuda-compare-plan"
        shutil.rmtree(work, ignore_errors=True)
        autotune("--isa", "cuda", "--work-dir", str(work), "compare", "--plan", str(work / "plan.json"))
        plan = json.loads((work / "plan.json").read_text())["candidates"]
        cases = describe("cuda")
        suite = {c["name"]: c for c in project.load_json(project.SUITE_FILE)["cases"]}
        schedules = project.load_json(project.SCHEDULE_FILE)
        self.assertTrue(all(e["isa"] == "cuda" for e in plan))
        for c in cases:
            case, variant = c["case"], c["kernel"]
            mine = [e for e in plan if case in e["cases"]]
            self.assertTrue(all(e["variant"] == variant for e in mine), (case, mine))
            space = Space(variant, "cuda")
            tuned = space.from_knobs(schedules_io.knobs_for(schedules, "forward", "cuda", variant))
            hand = space.from_knobs(schedules_io.knobs_for(schedules, "hand_written", "cuda", variant))
            ours = {e["id"] for e in mine if not e["autoscheduler"]}
            self.assertEqual(ours, {tuned.id, hand.id}, case)
            s = suite[case]
            shape = ",".join(str(v) for v in [s["N"], s["Cin"], *s["in"]])
            autos = {e["autoscheduler"]: e for e in mine if e["autoscheduler"]}
            self.assertEqual(sorted(autos), sorted(self.AUTOS), case)
            for e in autos.values():
                self.assertEqual(e["estimate_input"], shape, case)
                self.assertEqual(e["cases"], [case], "an autoscheduled kernel serves the case it was estimated for")
                self.assertEqual(e["id"], Candidate.from_json(e).id)
        # A tuned or hand-written kernel is planned once, for every case of its variant.
        for e in plan:
            if not e["autoscheduler"]:
                self.assertEqual(e["cases"], [c["case"] for c in cases if c["kernel"] == e["variant"]], e)
        self.assertEqual(len({e["id"] for e in plan}), len(plan))
        # Without --plan or --from-log a CUDA comparison cannot run here, and says how it can.
        r = subprocess.run([sys.executable, str(TOOL / "convt3d_autotune.py"), "--isa", "cuda", "--work-dir",
                            str(work), "compare"], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--from-log", r.stderr)

    def test_an_autoscheduled_cuda_kernel_builds_and_the_table_comes_from_the_log(self):
        work = WORK / "cuda-compare"
        shutil.rmtree(work, ignore_errors=True)
        common = ["--isa", "cuda", "--work-dir", str(work), "--case", "tiny_latency"]
        # Anderson2021 (GPU autoscheduler) and Adams2019 (CPU only: no GPU kernel, not measured).
        autos = ["--autoschedulers", self.AUTOS[0] + ",Adams2019:beam_size=1"]
        autotune(*common, "compare", *autos, "--plan", str(work / "plan.json"))
        plan = json.loads((work / "plan.json").read_text())["candidates"]
        self.assertEqual(len(plan), 4)
        autotune(*common, "build", "--plan", str(work / "plan.json"), "--out", str(work / "cands"))
        manifest = json.loads((work / "cands" / "manifest.json").read_text())
        built = {e["autoscheduler"] or "ours": e for e in manifest["candidates"]}
        self.assertIn(self.AUTOS[0], built)
        lib = (work / "cands" / built[self.AUTOS[0]]["library"]).read_bytes()
        self.assertIn(b"halide_cuda_run", lib, "Anderson2021 must schedule CUDA kernels")
        self.assertLess(len(lib), 1 << 20)
        (failed,) = manifest["failed"]
        self.assertEqual((failed["autoscheduler"], failed["build"]["status"]), ("Adams2019:beam_size=1", "no_gpu_kernel"))
        # What the GPU machine's `measure` would write, then merge and the table.
        with open(work / "results.jsonl", "w") as f:
            for i, e in enumerate(manifest["candidates"]):
                ms = 0.40 if e["autoscheduler"] else 0.05 + 0.01 * i
                f.write(json.dumps({"id": e["id"], "status": "ok",
                                    "cases": {"tiny_latency": {"status": "ok", "median_ms": ms}}}) + "\n")
        out = autotune(*common, "merge", "--dir", str(work / "cands"), "--results", str(work / "results.jsonl"))
        self.assertIn("merged 3 results and 1 candidates that did not build", out)
        self.assertEqual(len(log_lines(work, "cuda")), 4)
        # --replace logs a candidate measured again (the newest record counts); without it, kept.
        first = log_lines(work, "cuda")[0]
        with open(work / "again.jsonl", "w") as f:
            f.write(json.dumps({"id": first["id"], "status": "ok",
                                "cases": {"tiny_latency": {"status": "ok", "median_ms": 0.04}}}) + "\n")
        autotune(*common, "merge", "--dir", str(work / "cands"), "--results", str(work / "again.jsonl"))
        self.assertEqual(len(log_lines(work, "cuda")), 4)
        autotune(*common, "merge", "--replace", "--dir", str(work / "cands"), "--results", str(work / "again.jsonl"))
        self.assertEqual(len(log_lines(work, "cuda")), 6, "the new result and the failed build, again")
        table = autotune(*common, "compare", *autos, "--from-log", "--markdown", str(work / "table.md"))
        self.assertEqual((work / "table.md").read_text().strip(), table.strip())
        header, rule, row = table.strip().splitlines()
        self.assertEqual(header, f"| case | variant | tuned ms | hand-written ms | {self.AUTOS[0]} ms | "
                                 "Adams2019:beam_size=1 ms | tuned vs best autoscheduler | tuned vs hand-written |")
        cells = [c.strip() for c in row.strip("|").split("|")]
        self.assertEqual(cells[:2], ["tiny_latency", "s1"])
        self.assertEqual(cells[4:], ["0.40", "no_gpu_kernel", f"{0.40 / float(cells[2]):.2f}x",
                                     f"{float(cells[3]) / float(cells[2]):.2f}x"])
        self.assertIn("0.04", cells[2:4], "the replaced measurement counts")


if __name__ == "__main__":
    unittest.main()
