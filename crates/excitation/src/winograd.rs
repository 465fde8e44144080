//! 3×3 convolutions (stride 1, zero padding 1) by Winograd's minimal filtering F(2×2, 3×3).
//!
//! Most of the arithmetic of ResNet50, VGG11_BN and DenseNet121 is in 3×3 convolutions with
//! stride 1 and padding 1, in the forward pass and again in the backward pass (the input
//! gradient of such a convolution is the same kind of convolution with the kernels flipped
//! and the channel axes swapped). flex computes them as im2col + GEMM: 9·C multiply-adds per
//! output value. F(2×2, 3×3) (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural
//! Networks") computes each 2×2 output tile from a 4×4 input tile with 16 products per
//! channel pair instead of 36, i.e. 2.25× fewer multiply-adds, all in 16 independent matrix
//! products:
//!
//! - kernels: `U = G g Gᵀ` (4×4 per output/input channel pair), stored as 16 matrices `K × C`;
//! - input tiles: `V = Bᵀ d B` (4×4 per channel and tile), stored as 16 matrices `C × tiles`;
//! - `M_ξ = U_ξ · V_ξ` for each of the 16 positions ξ (one GEMM each);
//! - output tiles: `Y = Aᵀ m A` (2×2 per output channel and tile).
//!
//! with `G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]]`, `Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],
//! [0,1,0,−1]]`, `Aᵀ = [[1,1,1,0],[0,1,−1,−1]]`. The transforms only add and halve, so the
//! result equals the direct convolution to float32 rounding (tests: against an f64 direct
//! convolution, relative error of a few 1e-7 of the output's scale).
//!
//! The work is split into chunks of whole tile rows (across images when they are small) and,
//! when there are few tiles for many threads, of output channels; each chunk transforms its
//! input, runs its 16 products for its output channels and writes its own part of the
//! output, so the buffers stay in cache and chunks run in parallel on rayon's threads
//! ([`plan`] chooses the split).

// The one module of the workspace with `unsafe` (the workspace denies it elsewhere): the GEMM
// is `gemm::gemm`, an unsafe raw-pointer API, and the chunks write disjoint rows of one
// output buffer. Each block states why it is sound.
#![allow(unsafe_code)]

use std::ops::Range;

use rayon::prelude::*;

/// Which kernels to apply: the convolution's own, or those of its input gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// `y[n,k] = Σ_c x[n,c] ⋆ w[k,c]` with `weight` of shape `[K, C, 3, 3]`.
    Forward,
    /// The input gradient of a forward convolution whose `weight` is `[K_fwd, C_fwd, 3, 3]`:
    /// the call's input is that convolution's output gradient (`K_fwd` channels, the `c` of
    /// [`conv3x3`]), its output the input gradient (`C_fwd` channels, the `k` of
    /// [`conv3x3`]); the kernels are applied flipped in both spatial axes with the two
    /// channel axes swapped.
    InputGradient,
}

/// Whether [`conv3x3`] beats flex's im2col + GEMM here for `c` input and `k` output channels
/// and `tiles` 2×2 output tiles over the whole batch (`bench_convs`, docs/performance.md):
/// - both sides need at least 16 channels for the products to run at full speed (below
///   that the transforms dominate: flex's own paths are faster for the RGB stem);
/// - each of the 16 products repacks the `K × C` transformed kernels, which few tiles do not
///   amortise: 128 tiles in general (256 channels at 14×14: 245 tiles at batch 5 win, 49 at
///   batch 1 lose; 512 channels at 7×7: 80 tiles at batch 5 lose), 32 for narrow layers of at
///   most 2¹⁴ channel pairs (DenseNet's 128 → 32 growth convolutions win at 14×14 with 49).
pub fn worthwhile(c: usize, k: usize, tiles: usize) -> bool {
    let min_tiles = if c * k <= 1 << 14 { 32 } else { 128 };
    c >= 16 && k >= 16 && tiles >= min_tiles
}

/// 3×3 convolution, stride 1, zero padding 1, no dilation, one group, optional bias, and
/// optionally the forward convolution's kernels scaled per output channel (`kernel_scale`,
/// one factor per output channel of the forward convolution: a BatchNorm's `a` folded in at
/// no cost, since every kernel is transformed anyway).
///
/// # Shapes
/// - `x`: `[n, c, h, w]` (row-major, contiguous);
/// - `weight`: `[k, c, 3, 3]` for [`Kernels::Forward`], `[c, k, 3, 3]` for
///   [`Kernels::InputGradient`];
/// - `bias`: `[k]`;
/// - `kernel_scale`: `[K_fwd]` (`k` for [`Kernels::Forward`], `c` for
///   [`Kernels::InputGradient`]);
/// - returns `[n, k, h, w]`.
///
/// # Panics
/// If a slice length does not match the shapes (callers pass tensors of checked shapes).
pub fn conv3x3(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    k: usize,
    kernels: Kernels,
    bias: Option<&[f32]>,
    kernel_scale: Option<&[f32]>,
) -> Vec<f32> {
    conv3x3_planned(
        x,
        [n, c, h, w],
        weight,
        k,
        kernels,
        bias,
        kernel_scale,
        None,
    )
}

/// [`conv3x3`] without bias or kernel scale, with the split `plan` instead of [`plan`]'s
/// (for `bench_winograd`, which times the splits against each other).
///
/// # Shapes
/// As [`conv3x3`].
///
/// # Panics
/// As [`conv3x3`], and if `plan` has an empty block.
pub fn conv3x3_with_plan(
    x: &[f32],
    shape: [usize; 4],
    weight: &[f32],
    k: usize,
    kernels: Kernels,
    plan: Plan,
) -> Vec<f32> {
    conv3x3_planned(x, shape, weight, k, kernels, None, None, Some(plan))
}

/// [`conv3x3`] with the split `forced` instead of [`plan`]'s where given.
#[allow(clippy::too_many_arguments)]
fn conv3x3_planned(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    k: usize,
    kernels: Kernels,
    bias: Option<&[f32]>,
    kernel_scale: Option<&[f32]>,
    forced: Option<Plan>,
) -> Vec<f32> {
    assert_eq!(x.len(), n * c * h * w, "conv3x3: input length");
    assert_eq!(weight.len(), k * c * 9, "conv3x3: weight length");
    if let Some(scale) = kernel_scale {
        let k_fwd = match kernels {
            Kernels::Forward => k,
            Kernels::InputGradient => c,
        };
        assert_eq!(scale.len(), k_fwd, "conv3x3: kernel scale length");
    }
    if let Some(b) = bias {
        assert_eq!(b.len(), k, "conv3x3: bias length");
    }
    let mut y = crate::parallel::zeros(n * k * h * w);
    if y.is_empty() {
        return y;
    }
    let u = transform_kernels(weight, k, c, kernels, kernel_scale);
    let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
    let threads = rayon::current_num_threads().max(1);
    let Plan { rows, k_block } = forced.unwrap_or_else(|| plan(n * th, tw, c, k, threads));
    assert!(
        rows >= 1 && k_block >= 1,
        "conv3x3: empty chunks in {forced:?}"
    );
    let row_chunks = (n * th).div_ceil(rows);
    let chunks = row_chunks * k.div_ceil(k_block);
    let out = SharedOut(y.as_mut_ptr());
    let sizes = Sizes {
        c,
        k,
        h,
        w,
        tw,
        th,
        rows,
        k_block,
    };
    // A single chunk (one small image): its products use the idle threads instead.
    let parallelism = if chunks == 1 && threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let call = Call {
        x,
        u: &u,
        bias,
        out: &out,
        sizes: &sizes,
        parallelism,
    };
    // Long runs of chunks per task, so that each thread allocates its buffers only a few times.
    let min_run = (chunks / (4 * threads)).max(1);
    (0..chunks)
        .into_par_iter()
        .with_min_len(min_run)
        .for_each(|chunk| {
            let (row_chunk, k_chunk) = (chunk % row_chunks, chunk / row_chunks);
            let first = row_chunk * rows;
            let tile_rows = first..(first + rows).min(n * th);
            let first_k = k_chunk * k_block;
            let channels = first_k..(first_k + k_block).min(k);
            let run = |scratch: &mut Scratch| {
                scratch.fit(&sizes);
                process_chunk_dispatch(&call, tile_rows.clone(), channels.clone(), scratch);
            };
            SCRATCH.with(|cell| match cell.try_borrow_mut() {
                Ok(mut scratch) => run(&mut scratch),
                // This thread is already inside a chunk (it took up this one while waiting in
                // a parallel GEMM or in the caller's own rayon job): fresh buffers.
                Err(_) => run(&mut Scratch::default()),
            });
        });
    y
}

/// The output buffer, shared by the chunks: each writes only its own tile rows.
struct SharedOut(*mut f32);

// SAFETY: the chunks write disjoint parts of the buffer (see `SharedOut::rows`).
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// `len` values of the output from `offset` on.
    ///
    /// # Safety
    /// The range lies inside the output buffer, which outlives the slice, and no other slice
    /// of it is alive: each chunk asks only for the output rows of its own tile rows
    /// (2i and 2i + 1 of each channel plane for tile row i) in its own output channels, and
    /// no two chunks share a tile row and an output channel.
    #[allow(clippy::mut_from_ref)]
    unsafe fn rows(&self, offset: usize, len: usize) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(offset), len)
    }
}

struct Sizes {
    c: usize,
    k: usize,
    h: usize,
    w: usize,
    /// Tiles per row and tile rows per image.
    tw: usize,
    th: usize,
    /// Tile rows per chunk.
    rows: usize,
    /// Output channels per chunk.
    k_block: usize,
}

/// How [`conv3x3`] splits its work: chunks of `rows` tile rows (counted over the whole batch)
/// times `k_block` output channels (the last chunk of each may be shorter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Tile rows per chunk, counted over the whole batch.
    pub rows: usize,
    /// Output channels per chunk.
    pub k_block: usize,
}

/// The split of [`conv3x3`]'s work for `tile_rows` tile rows of `tw` tiles, `c` input and
/// `k` output channels on `threads` threads: the one with the least estimated time among
/// chunks of at most a cache-sized number of tiles (2¹⁸ / (c + k) clamped to 256 – 1024, the
/// buffers of a chunk holding 16·(c + k) values per tile) and output-channel blocks of
/// multiples of 16.
///
/// A chunk of `t` tiles and `kb` output channels costs about `kb·t + 4·kb + 32·t + 64` units
/// of `16·c` multiply-adds: its 16 products (`kb·t`), streaming its rows of the transformed
/// kernels (`4·kb`), transforming and packing its input tiles (`32·t`: every output-channel
/// block of the same tiles does this again) and a fixed cost (`64`). The constants are fitted
/// to single-thread timings of 386 splits of ResNet50's, VGG11_BN's and DenseNet121's 3×3
/// layers at batch 5 (`bench_winograd --sweep`, `tools/bench/fit_winograd_plan.py`,
/// docs/performance.md "Session 11": 10 % rms error). The chunks run in waves of `threads`,
/// so the estimated time is the number of waves times the largest chunk's cost.
///
/// With many tiles per thread this gives chunks of whole tile rows with every output channel;
/// with few tiles per thread (ResNet50's 14×14 layers at batch 5 on 16 threads: 35 tile rows
/// of 7) it splits the output channels as well, rather than leave threads idle in a second
/// wave of thin chunks.
pub fn plan(tile_rows: usize, tw: usize, c: usize, k: usize, threads: usize) -> Plan {
    let threads = threads.max(1);
    let tw = tw.max(1);
    let max_tiles = (262_144 / (c + k).max(1)).clamp(256, 1024);
    let max_rows = (max_tiles / tw).clamp(1, tile_rows.max(1));
    let k = k.max(1);
    let mut best = Plan {
        rows: max_rows,
        k_block: k,
    };
    let mut best_cost = usize::MAX;
    for k_block in crate::parallel::block_sizes(k) {
        for rows in (1..=max_rows).rev() {
            let chunks = tile_rows.div_ceil(rows) * k.div_ceil(k_block);
            let t = rows * tw;
            let cost = chunks.div_ceil(threads) * (k_block * t + 4 * k_block + 32 * t + 64);
            if cost < best_cost {
                best_cost = cost;
                best = Plan { rows, k_block };
            }
        }
    }
    best
}

/// Per-thread buffers: transformed input `V` (16 × C × tiles), products `M` (16 × the
/// chunk's output channels × tiles), and rows split into even and odd columns (`4 × (tw + 1)`
/// each, see [`process_chunk`]).
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    even: Vec<f32>,
    odd: Vec<f32>,
}

impl Scratch {
    /// Grows the buffers to the sizes `s` needs (they are overwritten before being read, so
    /// old contents do not matter and the buffers are kept between calls).
    fn fit(&mut self, s: &Sizes) {
        let tiles = s.rows * s.tw;
        for (buffer, len) in [
            (&mut self.v, 16 * s.c * tiles),
            (&mut self.m, 16 * s.k_block * tiles),
            (&mut self.even, 4 * (s.tw + 1)),
            (&mut self.odd, 4 * (s.tw + 1)),
        ] {
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
        }
    }
}

thread_local! {
    /// Each thread's [`Scratch`], kept between calls (a few MiB at most: about 2¹⁶ values per
    /// matrix row pair, see `target` in [`conv3x3`]).
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new(Scratch {
            v: Vec::new(),
            m: Vec::new(),
            even: Vec::new(),
            odd: Vec::new(),
        })
    };
}

/// `U = G g Gᵀ` for every kernel, as 16 matrices `K × C` (one per ξ, at `ξ·K·C`), written in
/// the weight's own order so that both passes over memory are sequential: for
/// [`Kernels::Forward`] row-major (`(k, c)` at `k·C + c`), for [`Kernels::InputGradient`]
/// column-major (`(k, c)` at `c·K + k`). [`KernelMatrices`] carries the strides.
fn transform_kernels(
    weight: &[f32],
    k: usize,
    c: usize,
    kernels: Kernels,
    kernel_scale: Option<&[f32]>,
) -> KernelMatrices {
    // The weight is [outer, inner, 3, 3]; Forward: outer = k, inner = c; InputGradient:
    // outer = c, inner = k and the kernel is flipped.
    let inner = match kernels {
        Kernels::Forward => c,
        Kernels::InputGradient => k,
    };
    let pairs = k * c;
    let mut u = crate::parallel::zeros(16 * pairs);
    // Kernel pq's 16 values go to entry pq of the 16 matrices. Blocks of kernels run in
    // parallel (VGG's 512 → 512 layer has 262 144 kernels, transformed twice per pullback),
    // each writing the same range of every matrix.
    const BLOCK: usize = 2048;
    let mut blocks: Vec<Vec<&mut [f32]>> = (0..pairs.div_ceil(BLOCK))
        .map(|_| Vec::with_capacity(16))
        .collect();
    // (`max(1)`: an empty weight, no channel pairs, has no matrices to split.)
    for matrix in u.chunks_exact_mut(pairs.max(1)) {
        for (block, part) in blocks.iter_mut().zip(matrix.chunks_mut(BLOCK)) {
            block.push(part);
        }
    }
    blocks
        .into_par_iter()
        .enumerate()
        .for_each(|(b, mut parts)| {
            let first = b * BLOCK;
            let kernels_here = weight[9 * first..].chunks_exact(9).take(parts[0].len());
            for (i, g9) in kernels_here.enumerate() {
                // The outer index is the forward convolution's output channel in both cases.
                let scale = kernel_scale.map_or(1.0, |s| s[(first + i) / inner]);
                let values = transform_kernel(g9, scale, kernels);
                for (part, value) in parts.iter_mut().zip(values) {
                    part[i] = value;
                }
            }
        });
    let (row_stride, col_stride) = match kernels {
        Kernels::Forward => (c, 1),
        Kernels::InputGradient => (1, k),
    };
    KernelMatrices {
        u,
        row_stride,
        col_stride,
    }
}

/// `U = G g Gᵀ` for one 3×3 kernel `g9` (row-major) times `scale`, flipped in both axes for
/// the input gradient; the 16 values in row-major order (position ξ = 4a + b).
fn transform_kernel(g9: &[f32], scale: f32, kernels: Kernels) -> [f32; 16] {
    let g = |a: usize, b: usize| {
        scale
            * match kernels {
                Kernels::Forward => g9[a * 3 + b],
                Kernels::InputGradient => g9[(2 - a) * 3 + 2 - b],
            }
    };
    // G g: 4×3 (rows of G combine the kernel's rows), then (G g) Gᵀ: 4×4.
    let column = |col: usize| {
        let (g0, g1, g2) = (g(0, col), g(1, col), g(2, col));
        [g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2]
    };
    let columns = [column(0), column(1), column(2)];
    let mut u = [0f32; 16];
    for (a, row) in u.chunks_exact_mut(4).enumerate() {
        let [g0, g1, g2] = [columns[0][a], columns[1][a], columns[2][a]];
        row.copy_from_slice(&[g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2]);
    }
    u
}

/// The 16 transformed kernel matrices of [`transform_kernels`] and their strides.
struct KernelMatrices {
    u: Vec<f32>,
    row_stride: usize,
    col_stride: usize,
}

/// What every chunk of one [`conv3x3`] call shares.
struct Call<'a> {
    x: &'a [f32],
    u: &'a KernelMatrices,
    bias: Option<&'a [f32]>,
    out: &'a SharedOut,
    sizes: &'a Sizes,
    /// Inside each product: parallel only for a call of a single chunk.
    parallelism: gemm::Parallelism,
}

/// [`process_chunk`] compiled for the widest vector instructions this CPU has (AVX-512 or
/// AVX2, detected at run time; the transforms are loops over tiles that the compiler
/// vectorises), otherwise for the target's baseline. Same arithmetic in every version.
fn process_chunk_dispatch(
    call: &Call,
    tile_rows: Range<usize>,
    channels: Range<usize>,
    scratch: &mut Scratch,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked on the line above).
            return unsafe { simd::process_chunk_avx512(call, tile_rows, channels, scratch) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked on the line above).
            return unsafe { simd::process_chunk_avx2(call, tile_rows, channels, scratch) };
        }
    }
    process_chunk(call, tile_rows, channels, scratch)
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{process_chunk, Call, Range, Scratch};

    #[target_feature(enable = "avx512f")]
    pub(super) fn process_chunk_avx512(
        call: &Call,
        tile_rows: Range<usize>,
        channels: Range<usize>,
        scratch: &mut Scratch,
    ) {
        process_chunk(call, tile_rows, channels, scratch)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn process_chunk_avx2(
        call: &Call,
        tile_rows: Range<usize>,
        channels: Range<usize>,
        scratch: &mut Scratch,
    ) {
        process_chunk(call, tile_rows, channels, scratch)
    }
}

/// One chunk: the tile rows `tile_rows` counted over the whole batch (image `g / th`, row
/// `g % th`), for the output channels `channels`.
#[inline(always)]
fn process_chunk(
    call: &Call,
    tile_rows: Range<usize>,
    channels: Range<usize>,
    scratch: &mut Scratch,
) {
    let Call {
        x,
        u,
        bias,
        out,
        sizes: s,
        parallelism,
    } = *call;
    let Sizes {
        c, k, h, w, tw, th, ..
    } = *s;
    let tiles = tile_rows.len() * tw;
    // Stride between the 16 matrices of V and M: the full chunk size, so that a shorter last
    // chunk uses the same layout.
    let stride = s.rows * tw;

    // V = Bᵀ d B for every channel and tile. A tile row i reads input rows 2i−1 .. 2i+2 and
    // tile j columns 2j−1 .. 2j+2 (zero outside the image). With the padded columns split
    // into even ones `e[m] = x[2m−1]` and odd ones `o[m] = x[2m]`, tile j's four columns are
    // e[j], o[j], e[j+1], o[j+1], so every step below is a loop over j on contiguous values.
    let half = tw + 1;
    for ci in 0..c {
        for g in tile_rows.clone() {
            let (image, i) = (g / th, g % th);
            let plane = &x[(image * c + ci) * h * w..(image * c + ci + 1) * h * w];
            let (even, odd) = (&mut scratch.even, &mut scratch.odd);
            for a in 0..4 {
                let r = (2 * i + a) as isize - 1;
                let (e, o) = (
                    &mut even[a * half..(a + 1) * half],
                    &mut odd[a * half..(a + 1) * half],
                );
                e.fill(0.0);
                o.fill(0.0);
                if r < 0 || r as usize >= h {
                    continue;
                }
                let src = &plane[r as usize * w..(r as usize + 1) * w];
                for (m, pair) in src.chunks_exact(2).enumerate() {
                    o[m] = pair[0];
                    e[m + 1] = pair[1];
                }
                if w % 2 == 1 {
                    o[w / 2] = src[w - 1];
                }
            }
            // Bᵀ d: combine the four rows, in place: rows become (d0−d2, d1+d2, d2−d1, d1−d3).
            for cols in [&mut *even, &mut *odd] {
                let (r0, rest) = cols.split_at_mut(half);
                let (r1, rest) = rest.split_at_mut(half);
                let (r2, r3) = rest.split_at_mut(half);
                for m in 0..half {
                    let (d0, d1, d2, d3) = (r0[m], r1[m], r2[m], r3[m]);
                    r0[m] = d0 - d2;
                    r1[m] = d1 + d2;
                    r2[m] = d2 - d1;
                    r3[m] = d1 - d3;
                }
            }
            // (Bᵀ d) B: combine columns e[j], o[j], e[j+1], o[j+1] of each combined row.
            let base = (g - tile_rows.start) * tw;
            for a in 0..4 {
                let e = &scratch.even[a * half..(a + 1) * half];
                let o = &scratch.odd[a * half..(a + 1) * half];
                let at = |b: usize| ((a * 4 + b) * c + ci) * stride + base;
                let [v0, v1, v2, v3] = four_rows(&mut scratch.v, [at(0), at(1), at(2), at(3)], tw);
                for j in 0..tw {
                    let (d0, d1, d2, d3) = (e[j], o[j], e[j + 1], o[j + 1]);
                    v0[j] = d0 - d2;
                    v1[j] = d1 + d2;
                    v2[j] = d2 - d1;
                    v3[j] = d1 - d3;
                }
            }
        }
    }

    // M_ξ = U_ξ · V_ξ for the rows `channels` of U_ξ, into M's rows 0 .. kb.
    let (kb, k_block) = (channels.len(), s.k_block);
    for xi in 0..16 {
        // SAFETY: the three matrices lie inside their buffers: U_ξ is K×C at ξ·K·C (either
        // order, see `transform_kernels`) and its rows `channels` (channels.end ≤ K) start
        // `channels.start` rows in; V_ξ is C×tiles with row stride `stride` at ξ·C·stride;
        // M_ξ is kb×tiles with row stride `stride` at ξ·k_block·stride (kb ≤ k_block); and
        // tiles ≤ stride.
        unsafe {
            gemm::gemm(
                kb,
                tiles,
                c,
                scratch.m.as_mut_ptr().add(xi * k_block * stride),
                1,
                stride as isize,
                false,
                u.u.as_ptr().add(xi * k * c + channels.start * u.row_stride),
                u.col_stride as isize,
                u.row_stride as isize,
                scratch.v.as_ptr().add(xi * c * stride),
                1,
                stride as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }

    // Y = Aᵀ m A for every output channel and tile, plus the bias: a loop over j reading the
    // 16 products of tile row i contiguously.
    for ko in channels.clone() {
        let b0 = bias.map_or(0.0, |b| b[ko]);
        let row = ko - channels.start;
        for g in tile_rows.clone() {
            let (image, i) = (g / th, g % th);
            let base = (g - tile_rows.start) * tw;
            let ms: [&[f32]; 16] = std::array::from_fn(|xi| {
                let at = (xi * k_block + row) * stride + base;
                &scratch.m[at..at + tw]
            });
            // The four outputs of every tile as contiguous rows (a loop the compiler
            // vectorises), then interleaved into the output rows.
            let (y00, rest) = scratch.odd.split_at_mut(tw);
            let (y01, rest) = rest.split_at_mut(tw);
            let (y10, rest) = rest.split_at_mut(tw);
            let y11 = &mut rest[..tw];
            for j in 0..tw {
                let [a, b, c, d] = output_tile(&ms, j, b0);
                y00[j] = a;
                y01[j] = b;
                y10[j] = c;
                y11[j] = d;
            }
            let offset = ((image * k + ko) * h + 2 * i) * w;
            let len = w * (h - 2 * i).min(2);
            // SAFETY: rows 2i and 2i + 1 (if inside the image) of channel `ko` of `image`
            // belong to tile row g and channel `ko`, which only this chunk processes (see
            // `SharedOut::rows`).
            let pair = unsafe { out.rows(offset, len) };
            let (top, bottom) = pair.split_at_mut(w);
            interleave(top, y00, y01);
            if 2 * i + 1 < h {
                interleave(bottom, y10, y11);
            }
        }
    }
}

/// `row[2j] = even[j]`, `row[2j + 1] = odd[j]` for the row's length.
#[inline(always)]
fn interleave(row: &mut [f32], even: &[f32], odd: &[f32]) {
    let pairs = row.len() / 2;
    for (j, pair) in row.chunks_exact_mut(2).enumerate() {
        pair[0] = even[j];
        pair[1] = odd[j];
    }
    if row.len() % 2 == 1 {
        row[2 * pairs] = even[pairs];
    }
}

/// The 2×2 output tile `Aᵀ m A + bias` of tile `j` from the 16 product rows `ms`.
#[inline(always)]
fn output_tile(ms: &[&[f32]; 16], j: usize, bias: f32) -> [f32; 4] {
    let v = |xi: usize| ms[xi][j];
    // Aᵀ m: row 2i from rows 0-2 of m, row 2i+1 from rows 1-3; then the same on columns.
    let (p0, p1, p2, p3) = (
        v(0) + v(4) + v(8),
        v(1) + v(5) + v(9),
        v(2) + v(6) + v(10),
        v(3) + v(7) + v(11),
    );
    let (q0, q1, q2, q3) = (
        v(4) - v(8) - v(12),
        v(5) - v(9) - v(13),
        v(6) - v(10) - v(14),
        v(7) - v(11) - v(15),
    );
    [
        p0 + p1 + p2 + bias,
        p1 - p2 - p3 + bias,
        q0 + q1 + q2 + bias,
        q1 - q2 - q3 + bias,
    ]
}

/// Four disjoint rows of length `len` of `buffer`, starting at increasing offsets.
fn four_rows(buffer: &mut [f32], at: [usize; 4], len: usize) -> [&mut [f32]; 4] {
    let (head, rest) = buffer.split_at_mut(at[1]);
    let (second, rest) = rest.split_at_mut(at[2] - at[1]);
    let (third, fourth) = rest.split_at_mut(at[3] - at[2]);
    [
        &mut head[at[0]..at[0] + len],
        &mut second[..len],
        &mut third[..len],
        &mut fourth[..len],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values;

    /// Direct 3×3 convolution in f64 (stride 1, zero padding 1).
    fn direct(x: &[f32], [n, c, h, w]: [usize; 4], weight: &[f32], k: usize) -> Vec<f64> {
        let mut y = vec![0f64; n * k * h * w];
        for ni in 0..n {
            for ko in 0..k {
                for r in 0..h {
                    for col in 0..w {
                        let mut acc = 0f64;
                        for ci in 0..c {
                            for a in 0..3 {
                                for b in 0..3 {
                                    let (rr, cc) = (
                                        r as isize + a as isize - 1,
                                        col as isize + b as isize - 1,
                                    );
                                    if rr < 0 || cc < 0 || rr >= h as isize || cc >= w as isize {
                                        continue;
                                    }
                                    let xv = x[((ni * c + ci) * h + rr as usize) * w + cc as usize];
                                    acc +=
                                        xv as f64 * weight[((ko * c + ci) * 3 + a) * 3 + b] as f64;
                                }
                            }
                        }
                        y[((ni * k + ko) * h + r) * w + col] = acc;
                    }
                }
            }
        }
        y
    }

    /// The largest error relative to the largest output value.
    fn scaled_error(got: &[f32], want: &[f64]) -> f64 {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        got.iter()
            .zip(want)
            .fold(0f64, |m, (&g, &v)| m.max((g as f64 - v).abs()))
            / scale
    }

    #[test]
    fn matches_direct_convolution_on_odd_and_even_sizes() {
        for &(n, c, k, h, w) in &[
            (2, 3, 5, 6, 8),
            (1, 4, 2, 7, 5),
            (3, 2, 3, 1, 1),
            (1, 17, 19, 9, 13),
        ] {
            let x = values(n * c * h * w, 1);
            let weight = values(k * c * 9, 2);
            let bias = values(k, 3);
            let got = conv3x3(
                &x,
                [n, c, h, w],
                &weight,
                k,
                Kernels::Forward,
                Some(&bias),
                None,
            );
            let mut want = direct(&x, [n, c, h, w], &weight, k);
            for (i, v) in want.iter_mut().enumerate() {
                *v += bias[(i / (h * w)) % k] as f64;
            }
            let err = scaled_error(&got, &want);
            assert!(err < 1e-6, "{:?}: scaled error {err}", (n, c, k, h, w));
        }
    }

    /// The input gradient of `x ↦ conv(x, w)` in direction `g` is `Σ_k g[k] ⋆ flip(w[k, c])`:
    /// checked as the adjoint identity ⟨conv(x, w), g⟩ = ⟨x, conv3x3ᵀ(g)⟩ in f64.
    #[test]
    fn input_gradient_kernels_give_the_adjoint() {
        let (n, c, k, h, w) = (2, 5, 7, 6, 7);
        let x = values(n * c * h * w, 4);
        let weight = values(k * c * 9, 5);
        let g = values(n * k * h * w, 6);
        let y = direct(&x, [n, c, h, w], &weight, k);
        let lhs: f64 = y.iter().zip(&g).map(|(a, &b)| a * b as f64).sum();
        let gx = conv3x3(
            &g,
            [n, k, h, w],
            &weight,
            c,
            Kernels::InputGradient,
            None,
            None,
        );
        let rhs: f64 = gx.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
        assert!(
            (lhs - rhs).abs() <= 1e-5 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }

    /// A kernel scale is the same as scaling the weight first, in both directions.
    #[test]
    fn kernel_scale_equals_a_scaled_weight() {
        let (n, c, k, h, w) = (2, 5, 7, 6, 9);
        let x = values(n * c * h * w, 41);
        let g = values(n * k * h * w, 42);
        let weight = values(k * c * 9, 43);
        let scale = values(k, 44);
        let scaled: Vec<f32> = weight
            .iter()
            .enumerate()
            .map(|(i, v)| v * scale[i / (c * 9)])
            .collect();
        let shape_x = [n, c, h, w];
        let shape_g = [n, k, h, w];
        let with_scale = conv3x3(
            &x,
            shape_x,
            &weight,
            k,
            Kernels::Forward,
            None,
            Some(&scale),
        );
        let with_weight = conv3x3(&x, shape_x, &scaled, k, Kernels::Forward, None, None);
        let err = scaled_error(
            &with_scale,
            &with_weight.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        );
        assert!(err < 1e-6, "forward: {err}");
        let grad_scale = conv3x3(
            &g,
            shape_g,
            &weight,
            c,
            Kernels::InputGradient,
            None,
            Some(&scale),
        );
        let grad_weight = conv3x3(&g, shape_g, &scaled, c, Kernels::InputGradient, None, None);
        let err = scaled_error(
            &grad_scale,
            &grad_weight.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        );
        assert!(err < 1e-6, "input gradient: {err}");
    }

    /// More threads than chunks (the products split over threads inside a chunk) and two
    /// convolutions at once on one pool (a thread may take up a chunk while inside another):
    /// same values as the direct convolution.
    #[test]
    fn nested_and_concurrent_calls_on_a_wider_pool() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .expect("thread pool");
        let one = (1, 32, 16, 2, 9);
        let many = (3, 16, 24, 20, 14);
        let check = |(n, c, k, h, w): (usize, usize, usize, usize, usize)| {
            let x = values(n * c * h * w, 31);
            let weight = values(k * c * 9, 32);
            let got = conv3x3(&x, [n, c, h, w], &weight, k, Kernels::Forward, None, None);
            scaled_error(&got, &direct(&x, [n, c, h, w], &weight, k))
        };
        let (a, b) = pool.install(|| rayon::join(|| check(one), || check(many)));
        assert!(a < 1e-6 && b < 1e-6, "scaled errors {a}, {b}");
    }

    /// Every split of the work, even and uneven, in tile rows and in output channels, gives
    /// the direct convolution's values in both directions, with a bias and a kernel scale.
    #[test]
    fn every_split_gives_the_same_values() {
        let (n, c, k, h, w) = (2, 20, 40, 9, 7);
        let x = values(n * c * h * w, 51);
        let g = values(n * k * h * w, 52);
        let weight = values(k * c * 9, 53);
        let bias_k = values(k, 54);
        let bias_c = values(c, 55);
        let scale = values(k, 56);
        let scaled: Vec<f32> = weight
            .iter()
            .enumerate()
            .map(|(i, v)| v * scale[i / (c * 9)])
            .collect();
        // The input gradient, `Σ_k g[k] ⋆ flip(w[k, c])`, as the direct convolution of `g`
        // with the swapped and flipped kernels.
        let mut flipped = vec![0f32; c * k * 9];
        for ko in 0..k {
            for ci in 0..c {
                for t in 0..9 {
                    flipped[(ci * k + ko) * 9 + 8 - t] = scaled[(ko * c + ci) * 9 + t];
                }
            }
        }
        let with_bias = |mut y: Vec<f64>, bias: &[f32], channels: usize| {
            for (i, v) in y.iter_mut().enumerate() {
                *v += bias[(i / (h * w)) % channels] as f64;
            }
            y
        };
        let want_forward = with_bias(direct(&x, [n, c, h, w], &scaled, k), &bias_k, k);
        let want_gradient = with_bias(direct(&g, [n, k, h, w], &flipped, c), &bias_c, c);
        let tile_rows = n * h.div_ceil(2);
        for rows in [1, 2, 3, tile_rows] {
            for k_block in [1, 7, 16, 40] {
                let forced = Some(Plan { rows, k_block });
                let forward = conv3x3_planned(
                    &x,
                    [n, c, h, w],
                    &weight,
                    k,
                    Kernels::Forward,
                    Some(&bias_k),
                    Some(&scale),
                    forced,
                );
                let err = scaled_error(&forward, &want_forward);
                assert!(err < 1e-6, "forward, {forced:?}: scaled error {err}");
                // The input gradient has `c` output channels: blocks of at most `c`.
                let forced = Some(Plan {
                    rows,
                    k_block: k_block.min(c),
                });
                let gradient = conv3x3_planned(
                    &g,
                    [n, k, h, w],
                    &weight,
                    c,
                    Kernels::InputGradient,
                    Some(&bias_c),
                    Some(&scale),
                    forced,
                );
                let err = scaled_error(&gradient, &want_gradient);
                assert!(err < 1e-6, "input gradient, {forced:?}: scaled error {err}");
            }
        }
    }

    /// The number of chunks of a plan.
    fn chunks(tile_rows: usize, k: usize, plan: Plan) -> usize {
        tile_rows.div_ceil(plan.rows) * k.div_ceil(plan.k_block)
    }

    /// On one thread nothing is gained by splitting the output channels (each block would
    /// transform the input again); chunks stay within the cache-sized bound.
    #[test]
    fn one_thread_keeps_every_output_channel_in_each_chunk() {
        for (tile_rows, tw, c, k) in [(35, 7, 256, 256), (140, 28, 64, 64), (20, 4, 512, 512)] {
            let plan = plan(tile_rows, tw, c, k, 1);
            assert_eq!(plan.k_block, k, "{:?}", (tile_rows, tw, c, k));
            assert!(
                plan.rows * tw <= (262_144 / (c + k)).clamp(256, 1024).max(tw),
                "{plan:?}"
            );
        }
    }

    /// Few tiles on many threads (ResNet50's and VGG11_BN's 14×14 layers at batch 5: 35 tile
    /// rows of 7 on 16 threads): one wave of chunks of several tile rows, by splitting the
    /// output channels in blocks of multiples of 16, rather than two waves of 2-tile-row
    /// chunks (18 chunks; from single-thread timings, 1.9 and 8.7 ms against 1.4 and 4.8 for
    /// the 256- and 512-channel layers, docs/performance.md "Session 11").
    #[test]
    fn few_tiles_on_many_threads_split_the_output_channels() {
        for (c, k) in [(256, 256), (512, 512)] {
            let plan = plan(35, 7, c, k, 16);
            assert!(plan.k_block < k, "{plan:?}");
            assert_eq!(plan.k_block % 16, 0, "{plan:?}");
            assert!(chunks(35, k, plan) <= 16, "{plan:?}");
            assert!(chunks(35, k, plan) > 8, "{plan:?}");
            assert!(plan.rows > 2, "{plan:?}");
        }
        // With plenty of tiles for every thread, whole output channels.
        let plan = plan(280, 28, 256, 256, 16);
        assert_eq!(plan.k_block, 256, "{plan:?}");
        assert!(chunks(280, 256, plan) >= 16, "{plan:?}");
    }

    #[test]
    fn chunks_split_rows_without_changing_values() {
        // Tall enough for many chunks on any thread count; every chunk size gives the same
        // values as one chunk (checked against the direct convolution).
        let (n, c, k, h, w) = (1, 16, 16, 40, 6);
        let x = values(n * c * h * w, 7);
        let weight = values(k * c * 9, 8);
        let got = conv3x3(&x, [n, c, h, w], &weight, k, Kernels::Forward, None, None);
        let err = scaled_error(&got, &direct(&x, [n, c, h, w], &weight, k));
        assert!(err < 1e-6, "scaled error {err}");
    }
}
