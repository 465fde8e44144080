//! Row-parallel evaluation of batch maps on the machine's cores (std threads, no pool).
//!
//! Batch functions of this crate are maps from N input rows to N output rows; splitting
//! the rows into one contiguous chunk per core keeps each chunk a large matrix product.
//! Nested calls (a batch map inside a worker) run sequentially in that worker.

use std::cell::Cell;
use std::ops::Range;

use ndarray::{concatenate, Array2, Axis};

use crate::error::Result;

thread_local! {
    static IN_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Number of worker threads: `std::thread::available_parallelism`, at least 1.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Evaluates `f` on row ranges covering `0..n` (in parallel when `n >= 2 * min_rows`),
/// returning the per-chunk results in order.
fn chunks<T: Send, F>(n: usize, min_rows: usize, f: F) -> Vec<T>
where
    F: Fn(Range<usize>) -> T + Sync,
{
    let k = if IN_WORKER.with(|w| w.get()) {
        1
    } else {
        threads().min(n / min_rows.max(1)).max(1)
    };
    if k == 1 {
        return vec![f(0..n)];
    }
    let bounds: Vec<usize> = (0..=k).map(|j| j * n / k).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..k)
            .map(|j| {
                let range = bounds[j]..bounds[j + 1];
                let f = &f;
                scope.spawn(move || {
                    IN_WORKER.with(|w| w.set(true));
                    f(range)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

fn stack(parts: &[Array2<f64>]) -> Array2<f64> {
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    concatenate(Axis(0), &views).expect("chunks have equal widths")
}

/// Row-chunked map returning one matrix per chunk, stacked in order.
pub(crate) fn map_row_chunks<F>(n: usize, min_rows: usize, f: F) -> Result<Array2<f64>>
where
    F: Fn(Range<usize>) -> Result<Array2<f64>> + Sync,
{
    let mut parts: Vec<Array2<f64>> = chunks(n, min_rows, f).into_iter().collect::<Result<_>>()?;
    if parts.len() == 1 {
        return Ok(parts.pop().expect("one part"));
    }
    Ok(stack(&parts))
}

/// Row-chunked map returning several matrices per chunk (e.g. one per layer), each stacked.
pub(crate) fn map_row_chunks_multi<F>(n: usize, min_rows: usize, f: F) -> Result<Vec<Array2<f64>>>
where
    F: Fn(Range<usize>) -> Result<Vec<Array2<f64>>> + Sync,
{
    let mut parts: Vec<Vec<Array2<f64>>> =
        chunks(n, min_rows, f).into_iter().collect::<Result<_>>()?;
    if parts.len() == 1 {
        return Ok(parts.pop().expect("one part"));
    }
    let layers = parts[0].len();
    Ok((0..layers)
        .map(|l| stack(&parts.iter().map(|p| p[l].clone()).collect::<Vec<_>>()))
        .collect())
}
