#!/usr/bin/env bash
# Regenerates the pictures shown in README.md (docs/images/), offline, in under a minute:
#  - demo-pullbacks.png: `curtain demo` on the built-in Fashion-MNIST CNN (trained weights);
#  - cli-ascent-layout.png: `curtain ascent` on a tiny VGG with the untrained, formula-filled
#    weights of the parity fixtures and generated test images. It shows the layout of the
#    command's output (titles, rows, columns, per-cell normalisation), not an explanation
#    worth reading: real figures need torchvision's weights (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin curtain --example tiny_weights
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p docs/images
target/release/curtain demo --out "$work/demo"
cp "$work/demo/pullbacks.png" docs/images/demo-pullbacks.png
target/release/examples/tiny_weights tiny-vgg "$work/tiny"
target/release/curtain ascent --model tiny-vgg --weights "$work/tiny/tiny-vgg.safetensors" \
    --images "$work/tiny/images/disc.png" "$work/tiny/images/stripes.png" \
    --classes 0,3,7 --steps 5 --gradient excitation --out "$work/ascent"
cp "$work/ascent/ascent-excitation-diff.png" docs/images/cli-ascent-layout.png
ls -l docs/images
