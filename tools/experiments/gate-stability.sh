#!/usr/bin/env bash
# Reproduces docs/experiments/gate-stability.md: trains the BN and no-BN plain CNNs and the
# small ResNet on Fashion-MNIST (or CIFAR-10 with DATASET=cifar10 DATA_DIR=...), measures
# gate stability over their checkpoints, draws the figures from the stored numbers, and the
# pullback/ascent grids of each trained network.
# Usage: tools/experiments/gate-stability.sh [OUT]   (CURTAIN=path/to/curtain to pick the binary)
set -euo pipefail
OUT=${1:-experiments/gate-stability}
CURTAIN=${CURTAIN:-target/release/curtain}
DATASET=${DATASET:-fashion-mnist}
DATA=${DATA_DIR:+--data-dir $DATA_DIR}
STEPS=${STEPS:-1000}
EVERY=${EVERY:-250}
EXTRA=${EXTRA:-10,25,50,100}
MEASURE=${MEASURE_ARGS:---probe 500 --kernel-train 500 --kernel-test 250 --kernel-checkpoints 0,4,6,8 --retrain-steps 150 --retrain-checkpoints 0,2,4,6,8}
for variant in bn nobn resnet; do
  flags=""
  [ "$variant" = nobn ] && flags="--no-bn"
  [ "$variant" = resnet ] && flags="--arch resnet"
  "$CURTAIN" train --dataset "$DATASET" $DATA --run "$OUT/runs/$variant" $flags \
    --steps "$STEPS" --checkpoint-every "$EVERY" --extra-checkpoints "$EXTRA" --seed 0
  "$CURTAIN" stability measure --dataset "$DATASET" $DATA --run "$OUT/runs/$variant" \
    --out "$OUT/numbers/$variant" $MEASURE
  "$CURTAIN" stability explain --dataset "$DATASET" $DATA --run "$OUT/runs/$variant" \
    --out "$OUT/figures/explain_$variant"
  mv "$OUT/figures/explain_$variant/explain.json" "$OUT/numbers/$variant/explain.json"
done
"$CURTAIN" stability plot --variant bn="$OUT/numbers/bn" --variant nobn="$OUT/numbers/nobn" --out "$OUT/figures"
"$CURTAIN" stability plot --variant resnet="$OUT/numbers/resnet" --out "$OUT/figures"
