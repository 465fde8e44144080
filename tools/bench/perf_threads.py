"""Per-thread split of a `perf` profile: how busy each thread was, and where the main thread spent its time.

Used for docs/performance.md "Session 8" (the main thread's share of a pullback). Build with
line tables (`CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p excitation
--example bench_models`), record and dump with call stacks, then run this on the dump:

    RAYON_NUM_THREADS=2 perf record -F 999 -g -o pb.data \
        target/release/examples/bench_models --backends flex --no-torch --models resnet50 \
        --batches 1 --ops pullback --repeats 40 --main-outside-pool
    perf script -i pb.data -F tid,time,ip,sym > pb.txt
    python3 tools/bench/perf_threads.py pb.txt 5.0 25

Only the last WINDOW seconds count (the timed repeats, not model construction). The thread with
the lowest id is the main thread; at 999 Hz a thread busy all the time has 999·WINDOW samples.
"""

import collections
import re
import sys


def main() -> None:
    path, window = sys.argv[1], float(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    samples = []  # (thread id, time, [frames, innermost first])
    for line in open(path):
        if not line.strip():
            continue
        if not line[0].isspace():
            tid, time = line.split()[:2]
            samples.append((int(tid), float(time.rstrip(":")), []))
        elif samples:
            parts = line.strip().split(" ", 1)
            symbol = parts[1] if len(parts) > 1 else parts[0]
            samples[-1][2].append(re.sub(r"\+0x[0-9a-f]+$", "", symbol)[:110])
    end = max(t for _, t, _ in samples)
    samples = [s for s in samples if s[1] > end - window]
    per_thread = collections.Counter(tid for tid, _, _ in samples)
    most = int(999 * window)
    for tid, n in per_thread.most_common():
        print(f"thread {tid}: {n} samples, busy {100 * n / most:.1f} % of the window")
    main_tid = min(per_thread)
    leaf, inclusive = collections.Counter(), collections.Counter()
    for tid, _, stack in samples:
        if tid == main_tid and stack:
            leaf[stack[0]] += 1
            inclusive.update(set(stack))
    n = per_thread[main_tid]
    print(f"main thread ({main_tid}), innermost frames:")
    for frame, c in leaf.most_common(top):
        print(f"{100 * c / n:5.1f} % {frame}")
    print("main thread, inclusive:")
    for frame, c in inclusive.most_common(top):
        print(f"{100 * c / n:5.1f} % {frame}")


if __name__ == "__main__":
    main()
