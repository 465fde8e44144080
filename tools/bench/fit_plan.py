"""Fits the cost models of `winograd::plan` and `im2col::split_plan` to timings of splits.

Both plans estimate a chunk of `t` columns (Winograd: 2×2 tiles; pointwise: pixels) and `kb`
output channels at `kb·t + A·kb + B·t + D` units (the unit: one output channel over one
column, i.e. 16·c multiply-adds for Winograd, c for a pointwise convolution). This script
reads `bench_winograd --sweep` or `bench_pointwise --sweep` output taken on ONE thread (so a
split's time is the sum of its chunks' times), finds A, B and D by a grid search that
minimises the squared log error with a free scale per layer (and pass), and then, for each
thread count, compares splits by the time they would take in waves of that many threads,
estimated from the measured single-thread time (time / chunks × waves):

- "rows only" (Winograd only): whole-output-channel chunks of tile rows, halved while a
  thread would idle (`conv3x3` before output channels could be split; `rows_only` in
  bench_winograd);
- "model": the split the fitted model prefers among the swept ones (for Winograd within
  `plan`'s cache bound on the tiles of a chunk);
- "best swept": the fastest of the swept splits by that estimate.

Used for docs/performance.md "Session 11":

    cargo build --release -p excitation --example bench_winograd --example bench_pointwise
    RAYON_NUM_THREADS=1 target/release/examples/bench_winograd --repeats 9 --sweep > winograd.md
    RAYON_NUM_THREADS=1 target/release/examples/bench_pointwise --repeats 15 --sweep > pointwise.md
    python3 tools/bench/fit_plan.py winograd.md [--batch 5]
    python3 tools/bench/fit_plan.py pointwise.md --pointwise [--batch 5]

Needs numpy (tools/reference/requirements.txt).
"""

import argparse
import math
import re

import numpy as np

ROW = re.compile(
    r"\| (\d+)→(\d+) at (\d+)² \| (forward|input grad) \| grid \| (\d+) × (\d+) \| (\d+) \| ([\d.]+) \|"
)
POINTWISE_ROW = re.compile(
    r"\| (\d+)→(\d+) 1×1 at (\d+)² \| grid \| (\d+) × (\d+) \| (\d+) \| ([\d.]+) \|"
)


def read_pointwise(path: str, batch: int) -> list[dict]:
    """The swept splits of bench_pointwise: one image's pixels are its columns."""
    splits = []
    for line in open(path, encoding="utf-8"):
        m = POINTWISE_ROW.match(line)
        if not m:
            continue
        c, k, hw = int(m[1]), int(m[2]), int(m[3])
        k_block, pixel_block, ms = int(m[4]), int(m[5]), float(m[7])
        pixels = hw * hw
        chunks = [
            (min(pixel_block, pixels - p), min(k_block, k - b))
            for _ in range(batch)
            for p in range(0, pixels, pixel_block)
            for b in range(0, k, k_block)
        ]
        splits.append(
            dict(layer=(m[1], m[2], m[3], "1×1"), c=c, k=k, tw=pixel_block, tile_rows=None,
                 rows=1, k_block=k_block, ms=ms, chunks=chunks, pointwise=True)
        )
    return splits


def read(path: str, batch: int) -> list[dict]:
    """The swept splits of bench_winograd: channels in and out of the pass, tiles per row,
    chunks, time."""
    splits = []
    for line in open(path, encoding="utf-8"):
        m = ROW.match(line)
        if not m:
            continue
        c, k, hw = int(m[1]), int(m[2]), int(m[3])
        if m[4] == "input grad":  # the input gradient maps k channels to c
            c, k = k, c
        rows, k_block, ms = int(m[5]), int(m[6]), float(m[8])
        tw = (hw + 1) // 2
        tile_rows = batch * tw
        chunks = [
            (min(rows, tile_rows - r) * tw, min(k_block, k - b))
            for r in range(0, tile_rows, rows)
            for b in range(0, k, k_block)
        ]
        splits.append(
            dict(layer=(m[1], m[2], m[3], m[4]), c=c, k=k, tw=tw, tile_rows=tile_rows,
                 rows=rows, k_block=k_block, ms=ms, chunks=chunks, pointwise=False)
        )
    return splits


def units(chunks, a, b, d) -> float:
    return sum(kb * t + a * kb + b * t + d for t, kb in chunks)


def fit(splits):
    """(squared log error, A, B, D) of the best grid point."""
    groups = {}
    for s in splits:
        groups.setdefault(s["layer"], []).append(s)
    best = None
    for a in [0, 2, 4, 8, 16, 24, 32, 48, 64, 96]:
        for b in [0, 4, 8, 16, 24, 32, 48, 64, 96, 128]:
            for d in [0, 16, 32, 64, 128, 256, 512, 1024, 2048]:
                err = 0.0
                for members in groups.values():
                    logs = np.array([math.log(s["ms"] / units(s["chunks"], a, b, d)) for s in members])
                    err += float(((logs - logs.mean()) ** 2).sum())
                if best is None or err < best[0]:
                    best = (err, a, b, d)
    return best, groups


def rows_only(s, threads: int) -> int:
    target = min(max(262_144 // (s["c"] + s["k"]), 256), 1024)
    rows = min(max(target // s["tw"], 1), s["tile_rows"])
    while rows > 1 and math.ceil(s["tile_rows"] / rows) < threads:
        rows = math.ceil(rows / 2)
    return rows


def split_text(s) -> str:
    """Winograd: tile rows × output channels per chunk; pointwise: output channels × pixels."""
    if s["pointwise"]:
        return f"{s['k_block']} × {s['tw']}"
    return f"{s['rows']} × {s['k_block']}"


def in_waves(s, threads: int) -> float:
    """Estimated time on `threads` threads: the mean chunk's time per wave of chunks."""
    n = len(s["chunks"])
    return s["ms"] / n * math.ceil(n / threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="bench_winograd or bench_pointwise --sweep output, one thread")
    parser.add_argument("--batch", type=int, default=5, help="the sweep's --batch")
    parser.add_argument("--pointwise", action="store_true", help="bench_pointwise output")
    args = parser.parse_args()
    splits = (read_pointwise if args.pointwise else read)(args.sweep, args.batch)
    (err, a, b, d), groups = fit(splits)
    print(f"# fitted: chunk ≈ kb·t + {a}·kb + {b}·t + {d} units; "
          f"rms log error {math.sqrt(err / len(splits)):.3f} over {len(splits)} splits")
    for threads in [2, 8, 16]:
        print(f"\n## {threads} threads (ms, estimated from single-thread times)")
        print("| layer | pass | rows only | model's split | best swept |")
        print("|---|---|---|---|---|")
        for (c, k, hw, pas), members in groups.items():
            def cost(s):
                t, kb = s["chunks"][0]
                return math.ceil(len(s["chunks"]) / threads) * (kb * t + a * kb + b * t + d)
            if members[0]["pointwise"]:
                old_text, allowed = "–", members
            else:
                old = [s for s in members
                       if s["rows"] == rows_only(s, threads) and s["k_block"] == s["k"]]
                old_text = (f"{in_waves(old[0], threads):.2f} "
                            f"({old[0]['rows']} × {old[0]['k_block']})" if old else "not swept")
                # `plan` keeps chunks within its cache bound (as `rows_only` does).
                cap = min(max(262_144 // (members[0]["c"] + members[0]["k"]), 256), 1024)
                allowed = [s for s in members if s["rows"] * s["tw"] <= max(cap, s["tw"])]
            pick = min(allowed, key=cost)
            fastest = min(members, key=lambda s: in_waves(s, threads))
            print(f"| {c}→{k} at {hw}² | {pas} | {old_text} | "
                  f"{in_waves(pick, threads):.2f} ({split_text(pick)}) | "
                  f"{in_waves(fastest, threads):.2f} ({split_text(fastest)}) |")


if __name__ == "__main__":
    main()
