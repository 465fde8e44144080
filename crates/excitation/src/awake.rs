//! Keeping rayon's workers awake through a pass: [`keep_workers_awake`].
//!
//! A forward or backward pass on the CPU backends is a few hundred short parallel operations
//! (convolutions, gates, pools) with a little serial work between them (autodiff bookkeeping,
//! flex's small element-wise operations, allocations). An idle rayon worker spins for only 32
//! rounds of `yield_now` before it sleeps on a futex, so most of those serial gaps put every
//! other worker to sleep, and the next parallel operation has to wake them again: a system call
//! for each sleeping worker, and a wake-up latency on the critical path while the caller runs
//! the operation's first half alone. On 2 cores a ResNet50 batch-1 pullback had about 200 such
//! sleeps (`tools/bench/perf_gaps.py`, docs/performance.md "Session 9"); the cost grows with
//! the number of threads, as each operation must wake more of them.
//!
//! While an [`AwakeWorkers`] guard lives, every other worker of rayon's global pool runs a loop
//! that takes any job of the pool as soon as it appears (`rayon::yield_now`) and otherwise yields
//! its core to the operating system (`std::thread::yield_now`): the same as an OpenMP team,
//! PyTorch's CPU pool, whose idle threads spin for a while (`OMP_WAIT_POLICY`,
//! `GOMP_SPINCOUNT`) before they sleep. The cost is CPU time: those cores stay busy while the
//! guard lives.
//!
//! A worker that has found no job for [`IDLE_LIMIT`] leaves the loop and sleeps as rayon's
//! workers do. That bound matters for correctness, not only for CPU time: a worker that takes
//! up the loop while it waits inside a job of its own (rayon lets a waiting worker run other
//! jobs) resumes that job only after leaving the loop.
//!
//! [`set_enabled`] switches the guards on or off for the whole process (off by default, so a
//! library user's process keeps rayon's behaviour unless it asks; the `curtain` binary,
//! `bench_models` and `bench_convs` switch them on).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a worker waits without finding a job before it leaves the loop. Longer than nearly
/// every serial gap of a pass (the 99th percentile of a ResNet50 pullback's was 0.8–2.2 ms on
/// 2 cores, `tools/bench/perf_gaps.py`).
pub const IDLE_LIMIT: Duration = Duration::from_millis(5);

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The generation the current loops belong to; a loop ends when it changes.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Workers inside the loop now, and loops started since the process began.
static LOOPING: AtomicUsize = AtomicUsize::new(0);
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Live guards and the generation they share, changed together.
static GUARDS: Mutex<(usize, u64)> = Mutex::new((0, 0));

/// Switches [`keep_workers_awake`] on or off for the whole process.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::SeqCst);
}

/// Whether [`keep_workers_awake`] is switched on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::SeqCst)
}

/// While the returned guard lives, rayon's other workers look for jobs instead of sleeping
/// (see the module documentation). Guards nest: the workers go back to rayon's own idling when
/// the last one is dropped. Does nothing unless [`set_enabled`] switched it on.
#[must_use = "the workers stay awake only while the guard lives"]
pub fn keep_workers_awake() -> AwakeWorkers {
    if !enabled() {
        return AwakeWorkers { active: false };
    }
    let mut guards = GUARDS.lock().unwrap_or_else(|e| e.into_inner());
    guards.0 += 1;
    if guards.0 == 1 {
        guards.1 += 1;
        let generation = guards.1;
        GENERATION.store(generation, Ordering::SeqCst);
        // The calling thread does its own work; if it is one of the pool's workers, its copy
        // of the loop returns at once (it would otherwise run the loop the next time it waits
        // inside a parallel operation, and sit there until the loop ends).
        let caller = rayon::current_thread_index();
        rayon::spawn_broadcast(move |context| {
            if Some(context.index()) != caller {
                look_for_jobs(generation);
            }
        });
    }
    AwakeWorkers { active: true }
}

/// Keeps rayon's workers awake until dropped: see [`keep_workers_awake`].
pub struct AwakeWorkers {
    active: bool,
}

impl Drop for AwakeWorkers {
    fn drop(&mut self) {
        if !self.active {
            return;
        }
        let mut guards = GUARDS.lock().unwrap_or_else(|e| e.into_inner());
        guards.0 -= 1;
        if guards.0 == 0 {
            guards.1 += 1;
            GENERATION.store(guards.1, Ordering::SeqCst);
        }
    }
}

/// One worker's loop: run the pool's jobs as they appear, until the generation changes or no
/// job came for [`IDLE_LIMIT`].
fn look_for_jobs(generation: u64) {
    STARTED.fetch_add(1, Ordering::SeqCst);
    LOOPING.fetch_add(1, Ordering::SeqCst);
    let mut last_job = Instant::now();
    while GENERATION.load(Ordering::Acquire) == generation {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => last_job = Instant::now(),
            _ if last_job.elapsed() > IDLE_LIMIT => break,
            _ => std::thread::yield_now(),
        }
    }
    LOOPING.fetch_sub(1, Ordering::SeqCst);
}

/// How many workers are inside the loop now (for tests and diagnostics).
pub fn looping_workers() -> usize {
    LOOPING.load(Ordering::SeqCst)
}

/// How many loops have started since the process began (for tests and diagnostics).
pub fn loops_started() -> usize {
    STARTED.load(Ordering::SeqCst)
}
