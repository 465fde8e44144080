"""PyTorch side of the per-layer convolution benchmark (`bench_convs` in crates/excitation).

For the same layer shapes as `crates/excitation/examples/bench_convs.rs` (stride 1, padding
(k − 1)/2), times PyTorch's forward convolution and its input gradient
(`aten.convolution_backward` with only the input gradient requested, which is what autograd
calls for a frozen convolution), median of 7 runs, in ms, and prints a Markdown table like the
Rust side's; then the same for the classifiers' linear layers on one row (`F.linear`, and
`g @ W` for the input gradient), like the Rust side's second table.

Usage: python convs_torch.py [--batch 5] [--threads 2]
"""

import argparse
import time

import torch

# (in channels, out channels, kernel, spatial size): the list of bench_convs.rs; keep in step.
SHAPES = [
    (64, 64, 3, 56),
    (128, 128, 3, 28),
    (256, 256, 3, 14),
    (512, 512, 3, 7),
    (64, 128, 3, 112),
    (256, 256, 3, 56),
    (512, 512, 3, 14),
    (128, 32, 3, 56),
    (128, 32, 3, 14),
    (256, 64, 1, 56),
    (64, 256, 1, 56),
    (1024, 256, 1, 14),
    (512, 128, 1, 28),
    (1024, 128, 1, 14),
]

# (d_in, d_out): the linear layers of bench_convs.rs (VGG11_BN's classifier, ResNet50's fc,
# DenseNet121's classifier); keep in step.
LINEAR = [(25088, 4096), (4096, 4096), (4096, 1000), (2048, 1000), (1024, 1000)]


def median_ms(f):
    times = []
    for _ in range(7):
        start = time.perf_counter()
        f()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[3]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# convs_torch: torch {torch.__version__}, {args.threads} threads, batch {args.batch}, median of 7 (ms)")
    print("| conv | torch forward | torch input grad |")
    print("|---|---|---|")
    with torch.no_grad():
        for c, k, size, hw in SHAPES:
            pad = (size - 1) // 2
            x = torch.randn(args.batch, c, hw, hw)
            w = torch.randn(k, c, size, size) * 0.1
            g = torch.randn(args.batch, k, hw, hw)
            forward = median_ms(lambda: torch.nn.functional.conv2d(x, w, padding=pad))
            grad = median_ms(
                lambda: torch.ops.aten.convolution_backward(
                    g, x, w, None, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, [True, False, False]
                )
            )
            print(f"| {c}→{k} {size}×{size} at {hw}² | {forward:.1f} | {grad:.1f} |")
        print()
        print(f"# convs_torch: linear layers on one row, {args.threads} threads, median of 7 (ms)")
        print("| linear | torch forward | torch input grad |")
        print("|---|---|---|")
        for d_in, d_out in LINEAR:
            x = torch.randn(1, d_in)
            w = torch.randn(d_out, d_in) * 0.01  # PyTorch's layout: [out, in]
            g = torch.randn(1, d_out)
            forward = median_ms(lambda: torch.nn.functional.linear(x, w))
            grad = median_ms(lambda: g @ w)
            print(f"| {d_in}→{d_out} | {forward:.2f} | {grad:.2f} |")


if __name__ == "__main__":
    main()
