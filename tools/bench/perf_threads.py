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
import sys

from perf_dump import print_frames, read


def main() -> None:
    path, window = sys.argv[1], float(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    samples, _ = read(path)  # (thread id, time, [frames, innermost first])
    end = max(t for _, t, _ in samples)
    samples = [s for s in samples if s[1] > end - window]
    per_thread = collections.Counter(tid for tid, _, _ in samples)
    most = int(999 * window)
    for tid, n in per_thread.most_common():
        print(f"thread {tid}: {n} samples, busy {100 * n / most:.1f} % of the window")
    main_tid = min(per_thread)
    print_frames(
        [stack for tid, _, stack in samples if tid == main_tid and stack],
        f"main thread ({main_tid})",
        top,
    )


if __name__ == "__main__":
    main()
