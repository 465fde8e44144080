"""Reading `perf script` dumps (shared by perf_threads.py and perf_gaps.py)."""

import collections
import re

SWITCH = re.compile(r"prev_pid=(\d+) .*prev_state=(\S+) ==>")
WAKEUP = re.compile(r" pid=(\d+) ")
HEADER = re.compile(r"^\s*(\d+)\s+(\d+\.\d+):")


def read(path):
    """Samples (tid, time, frames innermost first) and scheduler events (time, kind, tid,
    state): a thread switched out ("out", with its state) or woken ("wake")."""
    samples, switches = [], []
    current = None
    for line in open(path):
        if not line.strip():
            current = None
            continue
        header = HEADER.match(line)
        if header:
            tid, time = int(header[1]), float(header[2])
            if "sched:sched_switch" in line:
                m = SWITCH.search(line)
                if m:
                    switches.append((time, "out", int(m[1]), m[2]))
                current = None
            elif "sched:sched_waking" in line:
                m = WAKEUP.search(line)
                if m:
                    switches.append((time, "wake", int(m[1]), ""))
                current = None
            else:
                current = (tid, time, [])
                samples.append(current)
        elif current is not None:
            parts = line.strip().split(" ", 1)
            symbol = parts[1] if len(parts) > 1 else parts[0]
            current[2].append(re.sub(r"\+0x[0-9a-f]+$", "", symbol)[:120])
    return samples, switches


def print_frames(stacks, title, top):
    """The `top` innermost and inclusive frames of `stacks` (lists, innermost first), in % of
    the stacks."""
    leaf, inclusive = collections.Counter(), collections.Counter()
    for stack in stacks:
        leaf[stack[0]] += 1
        inclusive.update(set(stack))
    n = max(1, len(stacks))
    print(f"{title}, innermost frames:")
    for frame, c in leaf.most_common(top):
        print(f"{100 * c / n:5.1f} % {frame}")
    print(f"{title}, inclusive:")
    for frame, c in inclusive.most_common(top):
        print(f"{100 * c / n:5.1f} % {frame}")
