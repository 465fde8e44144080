//! Convolutions as one im2col matrix and one multi-threaded GEMM per image.
//!
//! flex's own `conv2d` also multiplies an im2col matrix by the weight, but it first copies the
//! weight into another layout (serially, on every call) and splits the work only over images
//! and 512-pixel tiles, so a convolution with few output pixels runs on one thread at batch 1
//! (ResNet50's 512-channel 3×3 layers at 7×7: 8.0 ms on flex against PyTorch's 3.0 ms on the
//! same two cores, `bench_convs --batch 1`). Here the im2col rows are ordered like the
//! weight's `[k, c, kh, kw]` layout, so the weight is the GEMM's left operand as it is, and the
//! GEMM itself is split over the threads (in the forward pass with several images, in tasks of
//! one image's block of output channels and pixels, [`split_plan`], or for large images the
//! images' GEMMs side by side, each split over its share of the threads):
//!
//! `y[n] (k × oh·ow) = W (k × c·kh·kw) · col[n] (c·kh·kw × oh·ow)`,
//! `col[n][(ci·kh + i)·kw + j, oy·ow + ox] = x[n, ci, oy·s + i − p, ox·s + j − p]` (zero
//! outside the image).
//!
//! The input gradient is the adjoint: `Wᵀ · dy[n]` in one GEMM, then `col2im` (each column
//! entry added back to the pixel it was gathered from). Used by [`crate::conv_op`] for frozen
//! convolutions that neither the Winograd nor the pointwise path takes (see [`worthwhile`]).

// `unsafe` is allowed here for the one call of `gemm::gemm` (in `weight_times`), an unsafe
// raw-pointer API (the workspace denies `unsafe` elsewhere; see the comment in Cargo.toml).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::parallel::{block_sizes, zeros};

/// Kernel size, stride and zero padding (the same on both sides) of a convolution, per
/// spatial axis (height, width). No dilation, one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`, each at least 1.
    pub stride: [usize; 2],
    /// `[ph, pw]`.
    pub padding: [usize; 2],
}

impl Geometry {
    /// The output's `[oh, ow]` for an input of `[h, w]`, or `None` if the padded input is
    /// smaller than the kernel.
    pub fn output_size(&self, [h, w]: [usize; 2]) -> Option<[usize; 2]> {
        let axis = |size: usize, a: usize| {
            let padded = size + 2 * self.padding[a];
            (padded >= self.kernel[a]).then(|| (padded - self.kernel[a]) / self.stride[a] + 1)
        };
        Some([axis(h, 0)?, axis(w, 1)?])
    }

    /// 1×1, stride 1, no padding: the im2col matrix of an image is the image itself (`[c,
    /// h·w]`), so [`conv2d`] multiplies by it in place and [`conv2d_input_gradient`] writes
    /// `Wᵀ · dy` straight into the input gradient, with no gather or col2im.
    pub const POINTWISE: Geometry = Geometry {
        kernel: [1, 1],
        stride: [1, 1],
        padding: [0, 0],
    };

    /// Whether this is [`Geometry::POINTWISE`].
    pub fn is_pointwise(&self) -> bool {
        *self == Self::POINTWISE
    }
}

/// Whether [`conv2d`] beats flex's `conv2d` for an image of `pixels` output pixels,
/// `channels_in` input channels and `multiply_adds` per image (`bench_convs --batch 1`, and
/// model-level A/B runs of `bench_models --no-im2col`, docs/performance.md): flex's own splits
/// images into 512-pixel tiles and runs them in parallel, which serves large images well; up
/// to two tiles per image its serial weight copy and its lack of parallelism within a tile
/// cost more than this path's one im2col matrix. On images with at most 4 channels (the RGB
/// input layers: ResNet's and DenseNet's 7×7 stems, VGG's first 3×3) the im2col matrix is
/// small at any size (depth ≤ 4·kh·kw) and this path wins too (alternated runs,
/// docs/performance.md "Session 7"). Tiny convolutions (under 2²³ multiply-adds, such as
/// DenseNet's 128 → 32 growth layers at 7×7, or CIFAR-size stems) gain nothing from a split
/// GEMM and keep flex's.
pub fn worthwhile(pixels: usize, channels_in: usize, multiply_adds: usize) -> bool {
    (pixels <= 1024 || channels_in <= 4) && multiply_adds >= 1 << 23
}

/// `y = scale · conv(x, weight) + bias` for `geometry` (`scale` and `bias` per output
/// channel, applied in one pass while the image's output is fresh in cache: a BatchNorm in
/// inference mode folds in this way, `conv_op::conv2d_batch_norm`).
///
/// # Shapes
/// - `x`: `[n, c, h, w]` (row-major, contiguous);
/// - `weight`: `[k, c, kh, kw]`;
/// - `scale`, `bias`: `[k]`;
/// - returns the output, `[n, k, oh, ow]`, and `[oh, ow]`.
///
/// # Panics
/// If a slice length does not match the shapes, or the padded input is smaller than the
/// kernel (callers pass tensors of checked shapes).
pub fn conv2d(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    k: usize,
    geometry: Geometry,
    scale: Option<&[f32]>,
    bias: Option<&[f32]>,
) -> (Vec<f32>, [usize; 2]) {
    let [kh, kw] = geometry.kernel;
    let [oh, ow] = geometry
        .output_size([h, w])
        .expect("im2col::conv2d: the padded input is smaller than the kernel");
    let (depth, pixels) = (c * kh * kw, oh * ow);
    assert_eq!(x.len(), n * c * h * w, "im2col::conv2d: input length");
    assert_eq!(weight.len(), k * depth, "im2col::conv2d: weight length");
    assert!(
        scale.is_none_or(|s| s.len() == k) && bias.is_none_or(|b| b.len() == k),
        "im2col::conv2d: scale or bias length"
    );

    let mut y = zeros(n * k * pixels);
    let pointwise = geometry.is_pointwise();
    // Several images, each either its own im2col matrix (pointwise) or a small one (few
    // output pixels, at most 2²³ values for the batch): tasks of blocks of output channels
    // and pixels of one image ([`split_plan`]), the gathered matrices in this thread's buffer.
    if takes_split(n, depth, pixels, pointwise) {
        let plan = split_plan(n, pixels, k, rayon::current_num_threads());
        let shape = [n, depth, k, pixels];
        if pointwise {
            gemm_blocks(&mut y, x, weight, Weight::AsIs, shape, plan, scale, bias);
        } else {
            with_buffers([n * depth * pixels, 0], |cols, _| {
                cols.par_chunks_exact_mut(depth * pixels)
                    .zip(x.par_chunks_exact(c * h * w))
                    .for_each(|(col, image)| {
                        fill_columns(col, image, [c, h, w], geometry, [oh, ow]);
                    });
                gemm_blocks(&mut y, cols, weight, Weight::AsIs, shape, plan, scale, bias);
            });
        }
        return (y, [oh, ow]);
    }
    // One image: its GEMM gets every thread. Several large ones (the RGB stems at 224×224) or
    // the split switched off: the images run side by side, each GEMM with its share of the
    // threads (one image after another left most of 16 threads idle: docs/performance.md
    // "Session 10").
    let threads = (rayon::current_num_threads() / n).max(1);
    let one_image = |image: &[f32], out: &mut [f32]| {
        with_buffers([if pointwise { 0 } else { depth * pixels }, 0], |col, _| {
            let col: &[f32] = if pointwise {
                image
            } else {
                fill_columns(col, image, [c, h, w], geometry, [oh, ow]);
                col
            };
            weight_times(out, weight, Weight::AsIs, col, [k, depth, pixels], threads);
            if scale.is_some() || bias.is_some() {
                per_channel(out, pixels, |channel, row| {
                    let a = scale.map_or(1.0, |s| s[channel]);
                    let b = bias.map_or(0.0, |b| b[channel]);
                    row.iter_mut().for_each(|v| *v = *v * a + b);
                });
            }
        })
    };
    if n == 1 {
        one_image(x, &mut y);
    } else {
        x.par_chunks_exact(c * h * w)
            .zip(y.par_chunks_exact_mut(k * pixels))
            .for_each(|(image, out)| one_image(image, out));
    }
    (y, [oh, ow])
}

/// Whether [`conv2d`] and [`conv2d_input_gradient`] split the GEMMs of several images by
/// [`split_plan`] (the default); see [`set_split`].
static SPLIT: AtomicBool = AtomicBool::new(true);

/// Switches the split of the GEMMs of several images (pointwise convolutions, and those with
/// at most 1024 output pixels) in [`conv2d`] and [`conv2d_input_gradient`] on or off (off, as
/// before session 11: [`conv2d`] runs the images' GEMMs side by side, each split by the `gemm`
/// crate over its share of the threads, [`conv2d_input_gradient`] one image after another
/// with every thread; for A/B benchmarks, `bench_models --no-im2col-split`).
pub fn set_split(enabled: bool) {
    SPLIT.store(enabled, Ordering::Relaxed);
}

/// Whether [`conv2d`] and [`conv2d_input_gradient`] split the GEMMs of `n` images by
/// [`split_plan`]: switched on ([`set_split`]), several images, and each image either a
/// pointwise convolution (the image is its own im2col matrix) or of at most 1024 output
/// pixels with at most 2²³ values in the batch's matrices (the RGB stems at 224×224 keep the
/// images side by side).
fn takes_split(n: usize, depth: usize, pixels: usize, pointwise: bool) -> bool {
    let small = pixels <= 1024 && n * depth * pixels <= 1 << 23;
    n > 1 && (pointwise || small) && SPLIT.load(Ordering::Relaxed)
}

/// How [`conv2d`] splits the GEMMs of several images: tasks of one image, `k_block` output
/// channels and `pixel_block` pixels, each one single-threaded GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitPlan {
    /// Output channels per task.
    pub k_block: usize,
    /// Output pixels per task.
    pub pixel_block: usize,
}

/// The split of the GEMMs of `n` images of `pixels` output pixels and `k` output channels on
/// `threads` threads with the least estimated time, among blocks of multiples of 16 output
/// channels and of 16 pixels.
///
/// A task of `kb` output channels and `p` pixels costs about `kb·p + 4·p + 64` units of
/// `depth` multiply-adds (`depth = c·kh·kw`, the rows of the im2col matrix): its GEMM
/// (`kb·p`), packing its pixels of the image's matrix (`4·p`: every output-channel block of
/// the same pixels does this again) and a fixed cost (`64`); streaming its rows of the
/// weight cost nothing measurable. The constants are fitted
/// to single-thread timings of 332 splits of ResNet50's and DenseNet121's 1×1 layers at batch
/// 5 (`bench_pointwise --sweep`, `tools/bench/fit_plan.py --pointwise`, docs/performance.md
/// "Session 11": 14 % rms error). The tasks run in waves of `threads`, so the estimated time
/// is the number of waves times the largest task's cost.
///
/// With 5 images on 16 threads this splits each image in a few tasks so that one wave keeps
/// every thread busy, where running the images' GEMMs side by side (each with its share of the
/// threads inside the `gemm` crate) left DenseNet's 1024 → 128 bottleneck at 14×14 at 2.9 ms
/// against PyTorch's 0.4 (docs/performance.md "Session 10").
pub fn split_plan(n: usize, pixels: usize, k: usize, threads: usize) -> SplitPlan {
    let threads = threads.max(1);
    let (k, pixels) = (k.max(1), pixels.max(1));
    let mut best = SplitPlan {
        k_block: k,
        pixel_block: pixels,
    };
    let mut best_cost = usize::MAX;
    let pixel_blocks = block_sizes(pixels);
    for k_block in block_sizes(k) {
        for &pixel_block in &pixel_blocks {
            let tasks = n * k.div_ceil(k_block) * pixels.div_ceil(pixel_block);
            let cost = tasks.div_ceil(threads) * (k_block * pixel_block + 4 * pixel_block + 64);
            if cost < best_cost {
                best_cost = cost;
                best = SplitPlan {
                    k_block,
                    pixel_block,
                };
            }
        }
    }
    best
}

/// The pointer to an output buffer that [`gemm_blocks`]' tasks share.
struct SharedOut(*mut f32);

// SAFETY: the tasks write disjoint blocks of the buffer (see `gemm_blocks`).
unsafe impl Sync for SharedOut {}

/// `y[i] = scale · (A · rhs[i]) + bias` for each image `i` of `rhs`, in tasks of `plan`'s
/// blocks (of `A`'s rows and of pixels) run on rayon's threads, where `A` is `weight`
/// (`[k, depth]`) as it is (the forward convolution: `rhs` holds the images' im2col matrices,
/// or the images themselves for a pointwise convolution) or transposed (its input gradient:
/// `rhs` holds the output gradients, `y` receives the columns).
///
/// # Shapes
/// - `weight`: `[k, depth]`; `A`: `[rows, inner]`, i.e. `[k, depth]` as it is and
///   `[depth, k]` transposed;
/// - `y`: `[n, rows, pixels]`; `rhs`: `[n, inner, pixels]`;
/// - `scale`, `bias`: `[rows]`.
///
/// # Panics
/// If a slice length does not match the shapes, or `plan` has an empty block.
#[allow(clippy::too_many_arguments)]
fn gemm_blocks(
    y: &mut [f32],
    rhs: &[f32],
    weight: &[f32],
    form: Weight,
    [n, inner, rows, pixels]: [usize; 4],
    plan: SplitPlan,
    scale: Option<&[f32]>,
    bias: Option<&[f32]>,
) {
    let SplitPlan {
        k_block,
        pixel_block,
    } = plan;
    assert!(
        k_block > 0 && pixel_block > 0,
        "im2col: empty blocks in {plan:?}"
    );
    assert!(
        y.len() == n * rows * pixels
            && rhs.len() == n * inner * pixels
            && weight.len() == rows * inner,
        "im2col: split GEMM operand lengths"
    );
    // Where A's element (r, i) lies in the weight: r·row_stride + i·col_stride.
    let (row_stride, col_stride) = match form {
        Weight::AsIs => (inner, 1),
        Weight::Transposed => (1, rows),
    };
    let (k_blocks, pixel_blocks) = (rows.div_ceil(k_block), pixels.div_ceil(pixel_block));
    let out = SharedOut(y.as_mut_ptr());
    let out = &out;
    (0..n * k_blocks * pixel_blocks)
        .into_par_iter()
        .for_each(|task| {
            let image = task / (k_blocks * pixel_blocks);
            let (kb, pb) = (task / pixel_blocks % k_blocks, task % pixel_blocks);
            let channels = kb * k_block..((kb + 1) * k_block).min(rows);
            let columns = pb * pixel_block..((pb + 1) * pixel_block).min(pixels);
            let first = (image * rows + channels.start) * pixels + columns.start;
            // SAFETY: the block, rows `channels` × columns `columns` of image `image`'s output
            // (`rows × pixels`, row stride `pixels`), lies inside `y` (its last element is
            // `(image·rows + channels.end − 1)·pixels + columns.end − 1 < n·rows·pixels`) and
            // no other task writes it (tasks differ in image, row block or pixel block). A's
            // rows `channels` (`× inner`, strides as above) lie inside `weight`, whose
            // `rows·inner` values they index with those strides, and the image's columns
            // `columns` of `rhs` (`inner ×`, row stride `pixels`) inside `rhs` (lengths
            // asserted above). The output block is a mutable view no other reference aliases.
            unsafe {
                gemm::gemm(
                    channels.len(),
                    columns.len(),
                    inner,
                    out.0.add(first),
                    1,
                    pixels as isize,
                    false,
                    weight.as_ptr().add(channels.start * row_stride),
                    col_stride as isize,
                    row_stride as isize,
                    rhs.as_ptr().add(image * inner * pixels + columns.start),
                    1,
                    pixels as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            if scale.is_none() && bias.is_none() {
                return;
            }
            for channel in channels {
                let a = scale.map_or(1.0, |s| s[channel]);
                let b = bias.map_or(0.0, |b| b[channel]);
                let at = (image * rows + channel) * pixels + columns.start;
                // SAFETY: a row of this task's own block (see above); the GEMM has finished
                // with it.
                let row = unsafe { std::slice::from_raw_parts_mut(out.0.add(at), columns.len()) };
                row.iter_mut().for_each(|v| *v = *v * a + b);
            }
        });
}

/// [`conv2d`] for a pointwise convolution of several images, with the split `plan` instead of
/// [`split_plan`]'s (for `bench_pointwise`, which times the splits against each other).
///
/// # Shapes
/// - `x`: `[n, c, h, w]` (row-major, contiguous);
/// - `weight`: `[k, c, 1, 1]`;
/// - returns `[n, k, h, w]`.
///
/// # Panics
/// If a slice length does not match the shapes, or `plan` has an empty block.
pub fn pointwise_with_plan(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    k: usize,
    plan: SplitPlan,
) -> Vec<f32> {
    let mut y = zeros(n * k * h * w);
    gemm_blocks(
        &mut y,
        x,
        weight,
        Weight::AsIs,
        [n, c, k, h * w],
        plan,
        None,
        None,
    );
    y
}

/// The input gradient of [`conv2d`] (with the same `scale`) for the output gradient `dy`: per
/// image, `cols = Wᵀ · (scale · dy[n])` (one GEMM split over the threads, the weight read
/// transposed in place; `dy` scaled per channel into a buffer first when `scale` is given),
/// then `col2im`, the adjoint of the im2col gather: each column entry is added back to the
/// input pixel it was read from.
///
/// # Shapes
/// - `dy`: `[n, k, oh, ow]` (row-major, contiguous), with `[oh, ow]` =
///   `geometry.output_size([h, w])`;
/// - `weight`: `[k, c, kh, kw]`;
/// - `scale`: `[k]`;
/// - returns `[n, c, h, w]`.
///
/// # Panics
/// If a slice length does not match the shapes (callers pass tensors of checked shapes).
pub fn conv2d_input_gradient(
    dy: &[f32],
    [n, k, oh, ow]: [usize; 4],
    weight: &[f32],
    [c, h, w]: [usize; 3],
    geometry: Geometry,
    scale: Option<&[f32]>,
) -> Vec<f32> {
    let [kh, kw] = geometry.kernel;
    assert_eq!(
        geometry.output_size([h, w]),
        Some([oh, ow]),
        "im2col::conv2d_input_gradient: output size"
    );
    let (depth, pixels) = (c * kh * kw, oh * ow);
    assert_eq!(
        dy.len(),
        n * k * pixels,
        "im2col::conv2d_input_gradient: gradient length"
    );
    assert_eq!(
        weight.len(),
        k * depth,
        "im2col::conv2d_input_gradient: weight length"
    );
    assert!(
        scale.is_none_or(|s| s.len() == k),
        "im2col::conv2d_input_gradient: scale length"
    );

    let mut dx = zeros(n * c * h * w);
    let pointwise = geometry.is_pointwise();
    let threads = rayon::current_num_threads();
    // Several images, as in [`conv2d`]: tasks of blocks of the columns' rows and pixels of
    // one image ([`split_plan`]), then each image's `col2im`.
    if takes_split(n, depth, pixels, pointwise) {
        let plan = split_plan(n, pixels, depth, threads);
        let shape = [n, k, depth, pixels];
        let lengths = [
            if pointwise { 0 } else { n * depth * pixels },
            if scale.is_some() { n * k * pixels } else { 0 },
        ];
        with_buffers(lengths, |cols, scaled| {
            let dy = match scale {
                None => dy,
                Some(scale) => {
                    per_channel(scaled, pixels, |row, out| {
                        let (src, a) = (&dy[row * pixels..][..pixels], scale[row % k]);
                        out.iter_mut().zip(src).for_each(|(o, v)| *o = v * a);
                    });
                    &*scaled
                }
            };
            let transposed = Weight::Transposed;
            if pointwise {
                // The columns are the input gradient itself (depth = c, pixels = h·w).
                gemm_blocks(&mut dx, dy, weight, transposed, shape, plan, None, None);
            } else {
                gemm_blocks(cols, dy, weight, transposed, shape, plan, None, None);
                dx.par_chunks_exact_mut(c * h * w)
                    .zip(cols.par_chunks_exact(depth * pixels))
                    .for_each(|(dx, col)| add_columns(dx, col, [c, h, w], geometry, [oh, ow]));
            }
        });
        return dx;
    }
    let lengths = [
        if pointwise { 0 } else { depth * pixels },
        if scale.is_some() { k * pixels } else { 0 },
    ];
    with_buffers(lengths, |col, scaled| {
        for (dy, dx) in dy
            .chunks_exact(k * pixels)
            .zip(dx.chunks_exact_mut(c * h * w))
        {
            let dy = match scale {
                None => dy,
                Some(scale) => {
                    per_channel(scaled, pixels, |channel, out| {
                        let (row, a) = (&dy[channel * pixels..][..pixels], scale[channel]);
                        out.iter_mut().zip(row).for_each(|(o, v)| *o = v * a);
                    });
                    &*scaled
                }
            };
            if pointwise {
                // The columns are the input gradient itself (depth = c, pixels = h·w).
                weight_times(
                    dx,
                    weight,
                    Weight::Transposed,
                    dy,
                    [k, depth, pixels],
                    threads,
                );
            } else {
                weight_times(
                    col,
                    weight,
                    Weight::Transposed,
                    dy,
                    [k, depth, pixels],
                    threads,
                );
                add_columns(dx, col, [c, h, w], geometry, [oh, ow]);
            }
        }
    });
    dx
}

/// `f(r, row)` for each row `r` of `pixels` values of `rows` (one output channel of one image
/// each): a per-channel pass such as BatchNorm's scale and shift, split over rayon's threads in tasks
/// of about 2¹⁴ values, or on the calling thread when there are no more values than that.
fn per_channel(rows: &mut [f32], pixels: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    const PER_TASK: usize = 1 << 14;
    if rows.len() <= PER_TASK {
        rows.chunks_exact_mut(pixels)
            .enumerate()
            .for_each(|(channel, row)| f(channel, row));
    } else {
        rows.par_chunks_exact_mut(pixels)
            .with_min_len((PER_TASK / pixels.max(1)).max(1))
            .enumerate()
            .for_each(|(channel, row)| f(channel, row));
    }
}

thread_local! {
    /// Per-thread buffers of [`conv2d`] and [`conv2d_input_gradient`] (the im2col matrix or
    /// matrices, the scaled output gradient), kept between calls: both are written in full
    /// before they are read, so reusing them saves an allocation and its zeroing per call (4 %
    /// of ResNet50's batch-1 pullback was `memset` in these). They keep the largest size asked
    /// for: a few tens of MB for the three ImageNet models (the split of several images
    /// gathers the whole batch's matrices, at most 2²³ values: 26–70 MiB more peak memory at
    /// batch 5, docs/performance.md "Session 11").
    static BUFFERS: std::cell::RefCell<[Vec<f32>; 2]> =
        const { std::cell::RefCell::new([Vec::new(), Vec::new()]) };
}

/// Runs `f` on two buffers of the given lengths, whose contents are unspecified (`f` writes
/// before it reads): this thread's kept buffers, or fresh ones if they are in use (a thread
/// that re-enters, e.g. a rayon worker taking up another convolution while it waits).
fn with_buffers<R>(lengths: [usize; 2], f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    let run = |buffers: &mut [Vec<f32>; 2]| {
        for (buffer, &len) in buffers.iter_mut().zip(&lengths) {
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
        }
        let [first, second] = buffers;
        f(&mut first[..lengths[0]], &mut second[..lengths[1]])
    };
    BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => run(&mut buffers),
        Err(_) => run(&mut [Vec::new(), Vec::new()]),
    })
}

/// How [`weight_times`] reads the weight `W` (`k × depth`, row-major).
#[derive(Clone, Copy)]
enum Weight {
    /// `W` itself: the forward convolution.
    AsIs,
    /// `Wᵀ` (`depth × k`), read transposed in place: the input gradient.
    Transposed,
}

/// `out = W · rhs` (`rhs` depth × pixels, `out` k × pixels) or `out = Wᵀ · rhs` (`rhs`
/// k × pixels, `out` depth × pixels), in one GEMM split over `threads` of rayon's threads, the
/// weight read in place; every matrix row-major with row stride `pixels` but the weight.
///
/// # Panics
/// If a slice is shorter than its matrix.
fn weight_times(
    out: &mut [f32],
    weight: &[f32],
    form: Weight,
    rhs: &[f32],
    [k, depth, pixels]: [usize; 3],
    threads: usize,
) {
    // Rows and inner size of the product, and where the weight's element (r, i) lies:
    // r·row_stride + i·col_stride.
    let (rows, inner, row_stride, col_stride) = match form {
        Weight::AsIs => (k, depth, depth, 1),
        Weight::Transposed => (depth, k, 1, depth),
    };
    assert!(
        out.len() >= rows * pixels && weight.len() >= k * depth && rhs.len() >= inner * pixels,
        "im2col: GEMM operand lengths"
    );
    // SAFETY: `out` is rows × pixels (row stride `pixels`); the weight, rows × inner with the
    // strides above, covers exactly its k·depth entries; `rhs` is inner × pixels (row stride
    // `pixels`); all inside their slices (asserted above), and `out` overlaps neither of the
    // others (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            rows,
            pixels,
            inner,
            out.as_mut_ptr(),
            1,
            pixels as isize,
            false,
            weight.as_ptr(),
            col_stride as isize,
            row_stride as isize,
            rhs.as_ptr(),
            1,
            pixels as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(threads),
        );
    }
}

/// The input index `out·stride + tap − pad` that output index `out` reads through kernel tap
/// `tap` along one axis, if it lies inside the input's `size`.
fn input_index(out: usize, tap: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    (out * stride + tap).checked_sub(pad).filter(|&i| i < size)
}

/// For stride 1 along the width: the output columns `lo..hi` whose input column
/// `ox + tap − pad` lies inside `[0, w)` (the others read zero padding).
fn inside_columns(tap: usize, pad: usize, w: usize, ow: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(tap).min(ow);
    let hi = (w + pad).saturating_sub(tap).clamp(lo, ow);
    (lo, hi)
}

/// `col2im`: adds each entry of `col` (`c·kh·kw × oh·ow`, laid out as [`fill_columns`]
/// writes it) to the pixel of the image `[c, h, w]` it was gathered from, one input
/// channel's plane per rayon task (so no two tasks write the same pixel).
fn add_columns(
    image: &mut [f32],
    col: &[f32],
    [c, h, w]: [usize; 3],
    geometry: Geometry,
    [oh, ow]: [usize; 2],
) {
    let Geometry {
        kernel: [kh, kw],
        stride: [sh, sw],
        padding: [ph, pw],
    } = geometry;
    let pixels = oh * ow;
    image
        .par_chunks_exact_mut(h * w)
        .zip(col.par_chunks(kh * kw * pixels))
        .take(c)
        .for_each(|(plane, rows)| {
            for i in 0..kh {
                for j in 0..kw {
                    let row = &rows[(i * kw + j) * pixels..][..pixels];
                    for (oy, src) in row.chunks_exact(ow).enumerate() {
                        let Some(iy) = input_index(oy, i, sh, ph, h) else {
                            continue;
                        };
                        let dst = &mut plane[iy * w..][..w];
                        if sw == 1 {
                            let (lo, hi) = inside_columns(j, pw, w, ow);
                            for (d, s) in dst[lo + j - pw..hi + j - pw].iter_mut().zip(&src[lo..hi])
                            {
                                *d += s;
                            }
                        } else {
                            for (ox, s) in src.iter().enumerate() {
                                if let Some(ix) = input_index(ox, j, sw, pw, w) {
                                    dst[ix] += s;
                                }
                            }
                        }
                    }
                }
            }
        });
}

/// The im2col matrix of one image `[c, h, w]` into `col` (`c·kh·kw × oh·ow`), one input
/// channel's `kh·kw` rows per rayon task.
fn fill_columns(
    col: &mut [f32],
    image: &[f32],
    [c, h, w]: [usize; 3],
    geometry: Geometry,
    [oh, ow]: [usize; 2],
) {
    let Geometry {
        kernel: [kh, kw],
        stride: [sh, sw],
        padding: [ph, pw],
    } = geometry;
    let pixels = oh * ow;
    col.par_chunks_mut(kh * kw * pixels)
        .zip(image.par_chunks_exact(h * w))
        .take(c)
        .for_each(|(rows, plane)| {
            for i in 0..kh {
                for j in 0..kw {
                    let row = &mut rows[(i * kw + j) * pixels..][..pixels];
                    for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
                        let Some(iy) = input_index(oy, i, sh, ph, h) else {
                            out.fill(0.0);
                            continue;
                        };
                        let src = &plane[iy * w..][..w];
                        if sw == 1 {
                            let (lo, hi) = inside_columns(j, pw, w, ow);
                            out[..lo].fill(0.0);
                            out[lo..hi].copy_from_slice(&src[lo + j - pw..hi + j - pw]);
                            out[hi..].fill(0.0);
                        } else {
                            for (ox, v) in out.iter_mut().enumerate() {
                                *v = input_index(ox, j, sw, pw, w).map_or(0.0, |ix| src[ix]);
                            }
                        }
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values as seeded;

    /// The direct convolution in f64 (independent of the im2col layout).
    fn direct(
        x: &[f32],
        [n, c, h, w]: [usize; 4],
        weight: &[f32],
        k: usize,
        g: Geometry,
        scale: Option<&[f32]>,
        bias: Option<&[f32]>,
    ) -> Vec<f64> {
        let [kh, kw] = g.kernel;
        let [oh, ow] = g.output_size([h, w]).unwrap();
        let mut y = vec![0.0f64; n * k * oh * ow];
        for b in 0..n {
            for ko in 0..k {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = 0.0f64;
                        for ci in 0..c {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy =
                                        (oy * g.stride[0] + i) as isize - g.padding[0] as isize;
                                    let ix =
                                        (ox * g.stride[1] + j) as isize - g.padding[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xv = x[((b * c + ci) * h + iy as usize) * w + ix as usize];
                                    let wv = weight[((ko * c + ci) * kh + i) * kw + j];
                                    s += xv as f64 * wv as f64;
                                }
                            }
                        }
                        let a = scale.map_or(1.0, |scale| scale[ko] as f64);
                        let shift = bias.map_or(0.0, |bias| bias[ko] as f64);
                        y[((b * k + ko) * oh + oy) * ow + ox] = a * s + shift;
                    }
                }
            }
        }
        y
    }

    /// `(n, c, h, w, k, kernel, stride, padding)`.
    type Case = (
        usize,
        usize,
        usize,
        usize,
        usize,
        [usize; 2],
        [usize; 2],
        [usize; 2],
    );

    /// Test geometries ([`Case`]): strides, 7×7, 5×5, 1×1 (strided, and pointwise: no
    /// gather), a non-square kernel, a strided one whose windows leave input rows unreached,
    /// and two images of more than 1024 output pixels (the images' GEMMs side by side; the
    /// other batches of several images take [`split_plan`]'s tasks).
    const CASES: [Case; 9] = [
        (2, 3, 9, 7, 4, [3, 3], [1, 1], [1, 1]),
        (2, 5, 4, 6, 3, [1, 1], [1, 1], [0, 0]),
        (1, 5, 8, 8, 6, [3, 3], [2, 2], [1, 1]),
        (2, 3, 11, 10, 4, [7, 7], [2, 2], [3, 3]),
        (1, 4, 6, 5, 3, [1, 1], [2, 2], [0, 0]),
        (1, 2, 5, 6, 3, [3, 2], [1, 2], [0, 1]),
        (3, 6, 4, 4, 5, [5, 5], [1, 1], [2, 2]),
        (1, 4, 15, 12, 3, [3, 3], [2, 2], [1, 1]),
        (2, 2, 34, 33, 3, [3, 3], [1, 1], [1, 1]),
    ];

    #[test]
    fn matches_the_direct_convolution_for_several_geometries() {
        for (t, &(n, c, h, w, k, kernel, stride, padding)) in CASES.iter().enumerate() {
            let g = Geometry {
                kernel,
                stride,
                padding,
            };
            let x = seeded(n * c * h * w, 10 + t as u64);
            let weight = seeded(k * c * kernel[0] * kernel[1], 20 + t as u64);
            let bias = seeded(k, 30 + t as u64);
            let scale = seeded(k, 35 + t as u64);
            let options = [None, Some(&scale[..])]
                .into_iter()
                .flat_map(|s| [(s, None), (s, Some(&bias[..]))]);
            for (scale, bias) in options {
                let (got, [oh, ow]) = conv2d(&x, [n, c, h, w], &weight, k, g, scale, bias);
                let want = direct(&x, [n, c, h, w], &weight, k, g, scale, bias);
                assert_eq!([oh, ow], g.output_size([h, w]).unwrap());
                assert_eq!(got.len(), want.len());
                let size = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let err = got
                    .iter()
                    .zip(&want)
                    .fold(0.0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
                assert!(err <= 1e-6 * size, "case {t}: error {err} of {size}");
            }
        }
    }

    /// `conv2d_input_gradient` is the adjoint of `conv2d`: ⟨conv(x), g⟩ = ⟨x, grad(g)⟩ (sums in
    /// f64), on the same geometries, with and without a per-channel scale.
    #[test]
    fn input_gradient_is_the_adjoint_of_the_convolution() {
        for (t, &(n, c, h, w, k, kernel, stride, padding)) in CASES.iter().enumerate() {
            let g = Geometry {
                kernel,
                stride,
                padding,
            };
            let [oh, ow] = g.output_size([h, w]).unwrap();
            let x = seeded(n * c * h * w, 40 + t as u64);
            let weight = seeded(k * c * kernel[0] * kernel[1], 50 + t as u64);
            let dy = seeded(n * k * oh * ow, 60 + t as u64);
            let channel_scale = seeded(k, 70 + t as u64);
            for scale in [None, Some(&channel_scale[..])] {
                let (y, _) = conv2d(&x, [n, c, h, w], &weight, k, g, scale, None);
                let dx = conv2d_input_gradient(&dy, [n, k, oh, ow], &weight, [c, h, w], g, scale);
                let dot = |a: &[f32], b: &[f32]| {
                    a.iter()
                        .zip(b)
                        .map(|(a, b)| *a as f64 * *b as f64)
                        .sum::<f64>()
                };
                let (lhs, rhs) = (dot(&y, &dy), dot(&x, &dx));
                let size = y
                    .iter()
                    .zip(&dy)
                    .map(|(a, b)| (*a as f64 * *b as f64).abs())
                    .sum::<f64>();
                assert!(
                    (lhs - rhs).abs() <= 1e-5 * size,
                    "case {t}, scale {}: {lhs} vs {rhs}",
                    scale.is_some()
                );
            }
        }
    }

    /// Every split of the GEMMs of several images, even and uneven, gives the direct
    /// convolution's values, with a scale and a bias: a pointwise convolution (the images are
    /// the matrices) and a strided 3×3 one (their im2col matrices).
    #[test]
    fn every_split_gives_the_same_values() {
        let strided = Geometry {
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
        };
        for geometry in [Geometry::POINTWISE, strided] {
            every_split_of(geometry);
        }
    }

    fn every_split_of(geometry: Geometry) {
        let (n, c, k, h, w) = (3, 5, 7, 9, 9);
        let x = seeded(n * c * h * w, 61);
        let [kh, kw] = geometry.kernel;
        let depth = c * kh * kw;
        let weight = seeded(k * depth, 62);
        let scale = seeded(k, 63);
        let bias = seeded(k, 64);
        let [oh, ow] = geometry.output_size([h, w]).unwrap();
        let dy = seeded(n * k * oh * ow, 65);
        let want = direct(
            &x,
            [n, c, h, w],
            &weight,
            k,
            geometry,
            Some(&scale),
            Some(&bias),
        );
        let pixels = oh * ow;
        let mut cols = vec![0f32; n * depth * pixels];
        for (col, image) in cols
            .chunks_exact_mut(depth * pixels)
            .zip(x.chunks_exact(c * h * w))
        {
            fill_columns(col, image, [c, h, w], geometry, [oh, ow]);
        }
        for k_block in [1, 3, 7, 16] {
            for pixel_block in [1, 4, 25, 81] {
                let plan = SplitPlan {
                    k_block,
                    pixel_block,
                };
                let mut y = vec![f32::NAN; n * k * pixels];
                gemm_blocks(
                    &mut y,
                    &cols,
                    &weight,
                    Weight::AsIs,
                    [n, depth, k, pixels],
                    plan,
                    Some(&scale),
                    Some(&bias),
                );
                // (Every value written: a NaN left over would fail here, not vanish in `max`.)
                assert!(
                    y.iter().all(|v| v.is_finite()),
                    "{plan:?}: a value not written"
                );
                let err = y
                    .iter()
                    .zip(&want)
                    .fold(0f64, |m, (&a, &b)| m.max((a as f64 - b).abs()));
                assert!(err < 1e-5, "{geometry:?}, {plan:?}: largest error {err}");

                // The input gradient by the same blocks of the transposed weight, then
                // col2im, against the one-image path (checked by the adjoint test).
                let mut grad_cols = vec![f32::NAN; n * depth * pixels];
                let shape = [n, k, depth, pixels];
                let transposed = Weight::Transposed;
                gemm_blocks(
                    &mut grad_cols,
                    &dy,
                    &weight,
                    transposed,
                    shape,
                    plan,
                    None,
                    None,
                );
                let mut dx = vec![0f32; n * c * h * w];
                for (dx, col) in dx
                    .chunks_exact_mut(c * h * w)
                    .zip(grad_cols.chunks_exact(depth * pixels))
                {
                    add_columns(dx, col, [c, h, w], geometry, [oh, ow]);
                }
                for (image, dx) in dx.chunks_exact(c * h * w).enumerate() {
                    let dy = &dy[image * k * pixels..][..k * pixels];
                    let want = conv2d_input_gradient(
                        dy,
                        [1, k, oh, ow],
                        &weight,
                        [c, h, w],
                        geometry,
                        None,
                    );
                    // (A column left unwritten would leave a NaN here.)
                    assert!(dx.iter().all(|v| v.is_finite()), "{plan:?}: NaN in dx");
                    let err = dx
                        .iter()
                        .zip(&want)
                        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                    assert!(err < 1e-5, "{geometry:?}, {plan:?}: gradient error {err}");
                }
            }
        }
    }

    /// One thread: whole images (nothing is gained by splitting one). Five images on 16
    /// threads: each image in several tasks of at least 16 output channels and 16 pixels; for
    /// DenseNet121's bottlenecks and ResNet50's layer3 at 14×14, one wave of them.
    #[test]
    fn split_plans_split_images_only_for_idle_threads() {
        for (pixels, k) in [(196, 128), (3136, 64), (49, 2048)] {
            let plan = split_plan(5, pixels, k, 1);
            assert_eq!(
                plan,
                SplitPlan {
                    k_block: k,
                    pixel_block: pixels
                },
                "{:?}",
                (pixels, k)
            );
        }
        for (pixels, k, one_wave) in [(196, 128, true), (196, 256, true), (784, 128, false)] {
            let plan = split_plan(5, pixels, k, 16);
            let tasks = 5 * k.div_ceil(plan.k_block) * pixels.div_ceil(plan.pixel_block);
            assert!(tasks >= 10, "{plan:?}: {tasks} tasks");
            assert!(!one_wave || tasks <= 16, "{plan:?}: {tasks} tasks");
            assert!(plan.k_block >= 16 && plan.pixel_block >= 16, "{plan:?}");
        }
    }

    #[test]
    fn output_size_follows_the_convolution_arithmetic() {
        let g = |kernel, stride, padding| Geometry {
            kernel,
            stride,
            padding,
        };
        // ResNet's stem: 224 → 112; a stride-2 3×3: 56 → 28; 1×1 stride 2: 56 → 28.
        assert_eq!(
            g([7, 7], [2, 2], [3, 3]).output_size([224, 224]),
            Some([112, 112])
        );
        assert_eq!(
            g([3, 3], [2, 2], [1, 1]).output_size([56, 56]),
            Some([28, 28])
        );
        assert_eq!(
            g([1, 1], [2, 2], [0, 0]).output_size([56, 55]),
            Some([28, 28])
        );
        assert_eq!(g([5, 5], [1, 1], [0, 0]).output_size([4, 9]), None);
    }
}
