#!/usr/bin/env bash
# Reproduces docs/experiments/gate-stability.md: trains the BN and no-BN plain CNNs on
# Fashion-MNIST (or CIFAR-10 with DATASET=cifar10 DATA_DIR=...), measures gate stability
# over their checkpoints, and draws the figures from the stored numbers.
# Usage: tools/experiments/gate-stability.sh [OUT]   (CURTAIN=path/to/curtain to pick the binary)
set -euo pipefail
OUT=${1:-experiments/gate-stability}
CURTAIN=${CURTAIN:-target/release/curtain}
DATASET=${DATASET:-fashion-mnist}
DATA=${DATA_DIR:+--data-dir $DATA_DIR}
STEPS=${STEPS:-1500}
EXTRA=${EXTRA:-10,25,50,100,200,400}
PROBE=${PROBE:-1000}
for variant in bn nobn; do
  flag=""; [ "$variant" = nobn ] && flag="--no-bn"
  "$CURTAIN" train --dataset "$DATASET" $DATA --run "$OUT/runs/$variant" $flag \
    --steps "$STEPS" --checkpoint-every 500 --extra-checkpoints "$EXTRA" --seed 0
  "$CURTAIN" stability measure --dataset "$DATASET" $DATA --run "$OUT/runs/$variant" \
    --out "$OUT/numbers/$variant" --probe "$PROBE" ${MEASURE_ARGS:-}
done
"$CURTAIN" stability plot --variant bn="$OUT/numbers/bn" --variant nobn="$OUT/numbers/nobn" --out "$OUT/figures"
