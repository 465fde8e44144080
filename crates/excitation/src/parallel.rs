//! Small helpers for the CPU kernels of this crate (`im2col`, `winograd`, `pool_op`) that run
//! on rayon's threads.

use rayon::prelude::*;

/// Values per task of [`zeros`] and [`copied`]: below this a split does not pay for handing
/// the work to the pool.
const PER_TASK: usize = 1 << 16;

/// `n` zeros. Over 2¹⁶ values rayon's threads write them: `vec![0.0; n]` zeroes reused
/// memory with one `memset` on the calling thread while the other cores wait (3 % of a
/// ResNet50 batch-1 pullback on 2 cores, for the outputs of the convolutions and pools). Up
/// to 2¹⁶ values, where a split would not pay for handing the work to the pool, `vec!` on the
/// calling thread.
pub(crate) fn zeros(n: usize) -> Vec<f32> {
    if n <= PER_TASK {
        return vec![0.0; n];
    }
    rayon::iter::repeat_n(0f32, n)
        .with_min_len(PER_TASK)
        .collect()
}

/// A copy of `values`, written by rayon's threads over 2¹⁶ values (`to_vec` copies on the
/// calling thread while the other cores wait: the out-of-place element-wise passes of
/// `elementwise_op` and `gate_op`, e.g. DenseNet's `norm1` on the concatenation the block
/// keeps).
pub(crate) fn copied(values: &[f32]) -> Vec<f32> {
    if values.len() <= PER_TASK {
        return values.to_vec();
    }
    values.par_iter().with_min_len(PER_TASK).copied().collect()
}

/// The block sizes a split of `size` items (output channels, pixels) over tasks considers:
/// `size` divided into 1, 2, … parts, each part rounded up to a multiple of 16 (and at most
/// `size`), largest first, without repeats (`winograd::plan`, `im2col::split_plan`).
pub(crate) fn block_sizes(size: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = (1..=(size / 16).max(1))
        .map(|parts| size.div_ceil(parts).next_multiple_of(16).min(size))
        .collect();
    sizes.dedup();
    sizes
}
