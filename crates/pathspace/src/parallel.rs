//! Row-parallel evaluation of batch maps on the machine's cores (std threads, no pool).
//!
//! Batch functions of this crate are maps from N input rows to N output rows; splitting
//! the rows into one contiguous chunk per core keeps each chunk a large matrix product.

use ndarray::{concatenate, Array2, Axis};

use crate::error::Result;

/// Number of worker threads: `std::thread::available_parallelism`, at least 1.
pub fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Evaluates `f` on row ranges covering `0..n` (in parallel when `n >= 2 * min_rows`)
/// and stacks the results in order.
pub(crate) fn map_row_chunks<F>(n: usize, min_rows: usize, f: F) -> Result<Array2<f64>>
where
    F: Fn(std::ops::Range<usize>) -> Result<Array2<f64>> + Sync,
{
    let k = threads().min(n / min_rows.max(1)).max(1);
    if k == 1 {
        return f(0..n);
    }
    let bounds: Vec<usize> = (0..=k).map(|j| j * n / k).collect();
    let parts: Vec<Result<Array2<f64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..k)
            .map(|j| {
                let range = bounds[j]..bounds[j + 1];
                let f = &f;
                scope.spawn(move || f(range))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker thread panicked")).collect()
    });
    let parts: Vec<Array2<f64>> = parts.into_iter().collect::<Result<_>>()?;
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    Ok(concatenate(Axis(0), &views).expect("chunks have equal widths"))
}
