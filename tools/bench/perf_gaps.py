"""What the main thread does while rayon's other workers sleep (the serial gaps of a run).

Every gap in which the main thread works alone for more than a few tens of microseconds lets
rayon's idle workers go to sleep (32 rounds of `yield_now`, then a futex wait), and the next
parallel operation must wake them again: a system call per sleeping worker for the waker and a
wake-up latency on the critical path, both growing with the number of threads. This script
finds those gaps in a `perf` recording and says where the main thread spent them.

Record with scheduler switches and call stacks (release build with line tables, see
perf_threads.py), then dump the events and run this on the dump:

    RAYON_NUM_THREADS=2 perf record -F 4999 -g -e cpu-clock -e sched:sched_switch \
        -e sched:sched_waking -o gaps.data \
        target/release/examples/bench_models --backends flex --no-torch --models resnet50 \
        --batches 1 --ops pullback --repeats 40
    perf script -i gaps.data -F tid,time,event,trace,ip,sym > gaps.txt
    python3 tools/bench/perf_gaps.py gaps.txt 5.0 30 40

Arguments: the dump, WINDOW (only the last WINDOW seconds count: the timed repeats), how many
frames to list, and how many repeats the window holds (to print counts per repeat).
"""

import collections
import sys

from perf_dump import print_frames, read

def main() -> None:
    path, window = sys.argv[1], float(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    samples, switches = read(path)
    end = max(t for _, t, _ in samples)
    start = end - window
    tids = collections.Counter(tid for tid, t, _ in samples if t > start)
    main_tid = min(tids)
    workers = [tid for tid in tids if tid != main_tid]

    # Walk the scheduler events and the main thread's samples in time order, keeping the set
    # of sleeping workers (switched out in state S until woken).
    timeline = [(t, kind, tid, state) for t, kind, tid, state in switches if tid in workers]
    timeline += [(t, "sample", tid, stack) for tid, t, stack in samples if tid == main_tid]
    timeline.sort(key=lambda e: e[0])
    sleeping, sleeps, gap_began, gaps = set(), 0, None, []
    main_samples, solo = 0, []
    for t, kind, tid, payload in timeline:
        counted = t > start
        if kind == "out" and payload.startswith("S"):
            sleeping.add(tid)
            sleeps += counted
            if len(sleeping) == len(workers):
                gap_began = t
        elif kind == "wake" and tid in sleeping:
            if len(sleeping) == len(workers) and gap_began is not None and counted:
                gaps.append(t - gap_began)
            sleeping.discard(tid)
        elif kind == "sample" and counted:
            main_samples += 1
            if payload and len(sleeping) == len(workers):
                solo.append(payload)
    print(f"window {window} s, main thread {main_tid}, workers {sorted(workers)}")
    print(f"worker sleeps: {sleeps} ({sleeps / repeats:.0f} per repeat); gaps with every "
          f"worker asleep: {len(gaps)} ({len(gaps) / repeats:.0f} per repeat), "
          f"{1e3 * sum(gaps) / repeats:.1f} ms per repeat")
    if gaps:
        gaps.sort()
        print("gap length percentiles (µs) 10/50/90/99: " + " / ".join(
            f"{1e6 * gaps[int(q * (len(gaps) - 1))]:.0f}" for q in (0.1, 0.5, 0.9, 0.99)))
    print(f"main-thread samples: {main_samples}, taken while every worker slept: "
          f"{len(solo)} ({100 * len(solo) / max(1, main_samples):.1f} %)")
    print_frames(solo, "while every worker slept", top)

if __name__ == "__main__":
    main()
