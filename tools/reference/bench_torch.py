#!/usr/bin/env python3
"""PyTorch side of the excitation benchmark (issue 3, item 7).

Times, for each model and batch size at 224x224: one forward (no autograd), one vanilla
input gradient, one excitation pullback (T = 0.3, the paper's Listings 1-2) and one 10-step
projected gradient ascent along the excitation pullback (alpha = 20, eps = 100), and the
peak resident memory of each (model, batch) combination. Prints one JSON document on stdout
(progress on stderr); `crates/excitation/examples/bench_models.rs` spawns this script and
prints the ratios. Run it alone with e.g.

    python tools/reference/bench_torch.py --models resnet50 --batches 1 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torchvision
from torchvision.models import densenet121, resnet50, vgg11_bn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from paper_layers import ascent_step, excitation_model, wrap  # noqa: E402

BUILD = {"resnet50": resnet50, "vgg11_bn": vgg11_bn, "densenet121": densenet121}
OPS = ["forward", "vanilla", "pullback", "ascent10"]
ASCENT10 = {"alpha": 20.0, "eps": 100.0, "steps": 10, "temperature": 0.3, "clip": [-1.0, 1.0],
            "eps_for_division": 1e-20}


def vm_kib(field):
    """VmHWM / VmRSS of this process in KiB (Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak():
    """Reset the kernel's resident-set high-water mark (Linux >= 4.0), so VmHWM is per combo."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def gradient(model, x, t):
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    (g,) = torch.autograd.grad(logits[torch.arange(len(t)), t].sum(), x)
    return g


def run_op(op, vanilla, exc, x, t):
    if op == "forward":
        with torch.no_grad():
            return vanilla(x)
    if op == "vanilla":
        return gradient(vanilla, x, t)
    if op == "pullback":
        return gradient(exc, x, t)
    if op == "ascent10":
        xk = x
        for _ in range(ASCENT10["steps"]):
            xk = ascent_step(exc, xk, x, t, ASCENT10)
        return xk
    raise ValueError(op)


def print_profile(title, prof, passes):
    """The operators with the most self CPU time per pass (`--profile`), on stderr: torch's
    counterpart of `bench_models --profile`. Self time is wall-clock on the calling thread
    (intra-op threads included, children excluded), so the column adds up to the pass."""
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_ms = sum(e.self_cpu_time_total for e in rows) / passes / 1000
    out = [f"\n{title}: {total_ms:.1f} ms per pass of operators' self time (under the profiler, "
           f"mean of {passes}), threads {torch.get_num_threads()}\n",
           "| operator | calls per pass | self ms per pass | share |", "|---|---|---|---|"]
    for e in rows[:PROFILE_ROWS]:
        ms = e.self_cpu_time_total / passes / 1000
        out.append(f"| {e.key} | {e.count / passes:.0f} | {ms:.2f} | {100 * ms / total_ms:.1f} % |")
    rest = sum(e.self_cpu_time_total for e in rows[PROFILE_ROWS:]) / passes / 1000
    out.append(f"| (other operators) | – | {rest:.2f} | {100 * rest / total_ms:.1f} % |")
    print("\n".join(out), file=sys.stderr, flush=True)


PROFILE_ROWS = 15


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet50,vgg11_bn,densenet121")
    ap.add_argument("--batches", default="1,5")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up (median reported); the 10-step ascent runs once")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--profile", action="store_true",
                    help="after each operation's timed runs, run it `repeats` more times under torch.profiler "
                         "and print (stderr) the operators with the most self CPU time per pass")
    args = ap.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_torch.py: --device cuda but torch.cuda.is_available() is False")
    torch.manual_seed(0)
    results = []
    for name in args.models.split(","):
        if name not in BUILD:
            sys.exit(f"bench_torch.py: unknown model `{name}` (expected one of {sorted(BUILD)})")
        backbone = BUILD[name](weights=None).eval().to(device)
        vanilla = wrap(backbone).to(device)
        exc = excitation_model(vanilla, 0.3).to(device)
        for p in list(vanilla.parameters()) + list(exc.parameters()):
            p.requires_grad_(False)
        for batch in [int(b) for b in args.batches.split(",")]:
            x = (torch.rand(batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(1)) * 2 - 1).to(device)
            t = torch.arange(batch, device=device) * 7 % 1000
            reset_peak()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            for op in args.ops.split(","):
                if op not in OPS:
                    sys.exit(f"bench_torch.py: unknown op `{op}` (expected one of {OPS})")
                # One untimed warm-up then `repeats` timed runs; the 10-step ascent is timed
                # once without warm-up (the pullback runs before it warm the same code).
                runs = [(False, 1)] if op == "ascent10" else [(True, 1), (False, args.repeats)]
                times = []
                for warm, n in runs:
                    for _ in range(n):
                        sync(device)
                        t0 = time.perf_counter()
                        run_op(op, vanilla, exc, x, t)
                        sync(device)
                        if not warm:
                            times.append(time.perf_counter() - t0)
                row = {"model": name, "batch": batch, "op": op, "seconds": statistics.median(times),
                       "min_seconds": min(times), "repeats": len(times)}
                results.append(row)
                print(f"torch {device.type} {name} b{batch} {op}: {row['seconds']:.4f} s", file=sys.stderr, flush=True)
                if args.profile and op != "ascent10":
                    activities = [torch.profiler.ProfilerActivity.CPU]
                    with torch.profiler.profile(activities=activities) as prof:
                        for _ in range(args.repeats):
                            run_op(op, vanilla, exc, x, t)
                            sync(device)
                    print_profile(f"torch {device.type} {name} b{batch} {op}", prof, args.repeats)
            peak = {"model": name, "batch": batch, "peak_rss_mib": (vm_kib("VmHWM") or 0) / 1024}
            if device.type == "cuda":
                peak["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
            results.append(dict(peak, op="peak_memory"))
        del backbone, vanilla, exc
    doc = {
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(0),
        "threads": torch.get_num_threads(), "size": args.size, "repeats": args.repeats,
        "peak_rss_reset": reset_peak(), "results": results,
    }
    json.dump(doc, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
