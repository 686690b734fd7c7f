#!/usr/bin/env bash
# On a GPU machine: measures the CUDA candidates staged by `scripts/gpu_stage.sh --candidates
# DIR` with the autotuner's runner (standard-library Python and the runner only; no Halide),
# appending one JSON line per candidate to RESULTS. Bring RESULTS back and merge it where the
# candidates were built:
#   convt3d_autotune.py --isa cuda merge --dir DIR --results RESULTS, then pick [--write].
#   scripts/gpu_tune.sh [stage] [results]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stage="${1:-build-gpu-stage}"
results="${2:-${OUT:-$stage}/results.jsonl}"
work="$(mktemp -d)"
tar -xJf "$stage/candidates.tar.xz" -C "$work"
dir="$(ls -d "$work"/*/)"
echo "measuring $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["candidates"]))' "$dir/manifest.json") candidates from $dir"
python3 tools/autotune/convt3d_autotune.py --isa cuda --runner "$stage/convt3d-tune-runner" --suite "$stage/suite.json" \
    measure --dir "$dir" --results "$results" --min-total-ms "${MIN_TOTAL_MS:-60}" --min-warmup-ms "${MIN_WARMUP_MS:-150}"
echo "gpu_tune.sh: $(wc -l < "$results") results in $results"
