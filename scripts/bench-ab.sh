#!/usr/bin/env bash
# Alternated A/B timing of two `bench_models` binaries on flex (docs/performance.md): on a
# shared machine whose speed drifts by ±15-20 % between runs, only runs of the two builds taken
# in turn, several times, say which one is faster.
#
#   cargo build --release -p excitation --example bench_models && cp target/release/examples/bench_models /tmp/old
#   (change the code, build again)
#   scripts/bench-ab.sh ROUNDS /tmp/old target/release/examples/bench_models [bench_models flags...]
#
# e.g. scripts/bench-ab.sh 4 /tmp/old target/release/examples/bench_models \
#          --models resnet50 --batches 1 --ops forward,pullback --repeats 7
# Prints, per run, each (model, batch, op): the median of the timed repeats and the fastest.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,13p' "$0"; exit 2; }
rounds=$1 a=$2 b=$3
shift 3
json=$(mktemp)
trap 'rm -f "$json"' EXIT
for _ in $(seq "$rounds"); do
    for bin in "$a" "$b"; do
        "$bin" --backends flex --no-torch --json "$json" "$@" >/dev/null 2>&1
        python3 - "$json" "$bin" <<'PY'
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["rounds"][0]["rust"] if "min_seconds" in r]
cells = " ".join(f"{r['model']} b{r['batch']} {r['op']} {r['seconds']:.3f}/{r['min_seconds']:.3f}" for r in rows)
print(f"{sys.argv[2][-24:]:>24}  {cells}")
PY
    done
done
