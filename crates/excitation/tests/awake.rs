//! `excitation::awake` in a process of its own (its switch and counters are process-wide, so
//! the library's other tests, running beside each other, would blur them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use excitation::awake::{
    keep_workers_awake, looping_workers, loops_started, set_enabled, IDLE_LIMIT,
};
use rayon::prelude::*;

/// Polls `done` every 0.2 ms for up to `limit`; whether it became true.
fn eventually(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    done()
}

fn sum_mod7(n: u64) -> u64 {
    (0..n).into_par_iter().map(|i| i % 7).sum()
}

/// One test, so that its steps cannot overlap (cargo runs a file's tests side by side).
#[test]
fn guards_start_loops_that_run_jobs_and_end() {
    // Abort a hang (a loop that never ends would keep a job waiting) with a clear message.
    let finished = std::sync::Arc::new(AtomicBool::new(false));
    let watch = finished.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(120));
        if !watch.load(Ordering::SeqCst) {
            eprintln!("awake: the test did not finish in 120 s (a worker stuck in its loop?)");
            std::process::exit(1);
        }
    });
    let threads = rayon::current_num_threads();
    let expected: u64 = (0..1_000_000u64).map(|i| i % 7).sum();

    // Switched off: guards start nothing.
    set_enabled(false);
    let before = loops_started();
    {
        let _guard = keep_workers_awake();
        assert_eq!(sum_mod7(1_000_000), expected);
    }
    assert_eq!(
        loops_started(),
        before,
        "a guard started loops while switched off"
    );

    // Switched on: a guard started from outside the pool starts a loop on every worker...
    set_enabled(true);
    let before = loops_started();
    let guard = keep_workers_awake();
    assert!(
        eventually(Duration::from_secs(10), || loops_started()
            >= before + threads),
        "{} of {threads} loops started",
        loops_started() - before
    );
    // ...which run the pool's jobs (the results are those of a plain run)...
    for _ in 0..20 {
        let inner = keep_workers_awake(); // guards nest
        assert_eq!(sum_mod7(1_000_000), expected);
        drop(inner);
    }
    // ...and leave after IDLE_LIMIT without a job, though the guard still lives.
    assert!(
        eventually(IDLE_LIMIT * 200, || looping_workers() == 0),
        "{} loops still running with no work",
        looping_workers()
    );
    drop(guard);

    // Loops end when the last guard is dropped, busy or not.
    let guard = keep_workers_awake();
    let keep_busy = std::thread::spawn(|| {
        for _ in 0..50 {
            std::hint::black_box(sum_mod7(200_000));
        }
    });
    std::thread::sleep(IDLE_LIMIT / 2);
    drop(guard);
    keep_busy.join().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || looping_workers() == 0),
        "{} loops still running after the last guard",
        looping_workers()
    );

    // Guards made inside parallel jobs, while other workers wait inside jobs of their own
    // (where rayon lets them take up a loop): everything still finishes, with the same sums.
    let sums: Vec<u64> = (0..64u64)
        .into_par_iter()
        .map(|i| {
            let _guard = keep_workers_awake();
            sum_mod7(10_000 + i)
        })
        .collect();
    let plain: Vec<u64> = (0..64u64)
        .map(|i| (0..10_000 + i).map(|j| j % 7).sum())
        .collect();
    assert_eq!(sums, plain);
    assert!(
        eventually(Duration::from_secs(10), || looping_workers() == 0),
        "{} loops still running after the nested guards",
        looping_workers()
    );
    finished.store(true, Ordering::SeqCst);
}
