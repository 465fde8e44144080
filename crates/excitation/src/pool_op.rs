//! The max-pool as one custom autodiff operation on flex: hard value, hard or soft gradient.
//!
//! [`crate::max_pool::GatedMaxPool2d`] has the hard max-pool as its value; its gradient is
//! the hard one (to the first maximum of each window, as PyTorch's) in vanilla mode and that
//! of softmax pooling at temperature T in an excitation mode (paper Listing 2). Written with
//! tensor operations (the form that works on every backend) the soft one stacks the k²
//! strided windows of its input, computes their softmax weights and Jacobian coefficients as
//! whole tensors and keeps them until the backward pass; flex's own max-pool computes and
//! keeps an index per output. Here both are one operation that keeps only its input (shared,
//! not copied):
//!
//! - forward: the hard max-pool (−∞ padding, floor mode; NaN wins, as in PyTorch);
//! - backward, [`PoolGradient::Hard`]: each window's output gradient to its first maximum
//!   (row-major; recomputed from the kept input);
//! - backward, [`PoolGradient::Soft`]: for every window W (taken as `F.unfold` takes it, zero
//!   padding included), with w = softmax(x_W / T) and soft = Σ_i w_i x_i, every real (not
//!   padded) entry x_i receives `grad_W · w_i (1 + (x_i − soft)/T)` = `grad_W · ∂soft/∂x_i`,
//!   summed over the windows that contain it. The windows of one output row are processed
//!   together, entry by entry across the row, so the exponentials and divisions run as
//!   vector instructions (AVX-512 or AVX2 where the CPU has them, chosen at run time).
//!
//! Planes (`[h, w]` slices of one image and channel) are split over rayon's threads; windows
//! of one plane may overlap, so a plane is never split. Values equal burn's max-pool exactly,
//! gradients equal the tensor forms' to float32 rounding (tests below). Other devices, and
//! tensors that are not `f32`, keep the tensor forms: see [`supported`].

use std::ops::Range;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::flex_values::contiguous;
use crate::gate_op::{exp_nonpositive, fused_ops_enabled};

/// Which gradient the max-pool operation passes back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PoolGradient {
    /// The hard max-pool's: all of a window's gradient to its first maximum.
    Hard,
    /// Softmax pooling's at this temperature (paper Listing 2).
    Soft {
        /// Temperature T > 0.
        temperature: f32,
    },
}

/// Backends that run the gated max-pool as one operation.
#[backend_extension(Autodiff, Flex)]
pub trait GatedPoolBackend: Backend {
    /// Hard max-pool (`k × k` windows, `stride`, implicit −∞ `padding`, floor mode); under
    /// autodiff its gradient is `gradient`.
    fn gated_max_pool2d(
        x: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        gradient: PoolGradient,
    ) -> FloatTensor<Self>;
}

impl GatedPoolBackend for Flex {
    fn gated_max_pool2d(
        x: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        _gradient: PoolGradient,
    ) -> FloatTensor<Self> {
        hard_pool(x, Window::new(kernel_size, stride, padding))
    }
}

impl<C: CheckpointStrategy> GatedPoolBackend for Autodiff<Flex, C> {
    fn gated_max_pool2d(
        x: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        gradient: PoolGradient,
    ) -> FloatTensor<Self> {
        /// The backward step: state is the input, the window and the gradient rule.
        #[derive(Debug)]
        struct GatedPool;

        impl Backward<Flex, 1> for GatedPool {
            type State = (FloatTensor<Flex>, Window, PoolGradient);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (x, window, gradient) = ops.state;
                unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
                    pool_backward(x, grad, window, gradient)
                });
            }
        }

        let window = Window::new(kernel_size, stride, padding);
        let (x, node) = x.into_parts();
        match GatedPool.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                prep.finish((x.clone(), window, gradient), hard_pool(x, window))
            }
            OpsKind::UnTracked(prep) => prep.finish(hard_pool(x, window)),
        }
    }
}

/// Whether `x` can use [`excitation_max_pool2d`] and [`hard_max_pool2d`]: an `f32` tensor on
/// flex (with or without autodiff), and the fused operations not switched off
/// ([`crate::gate_op::set_fused_ops`]).
pub fn supported<const D: usize>(x: &Tensor<D>) -> bool {
    fused_ops_enabled() && x.dtype() == DType::F32 && x.device().inner() == Device::flex()
}

/// Hard max-pool whose gradient is softmax pooling's at `temperature` (one autodiff operation;
/// see the module docs). Call only where [`supported`] holds for `x`.
///
/// # Shapes
/// - `x`: `[batch, channels, h, w]`; output `[batch, channels, (h + 2p − k)/s + 1, (w + 2p − k)/s + 1]`.
pub fn excitation_max_pool2d(
    x: Tensor<4>,
    kernel_size: usize,
    stride: usize,
    padding: usize,
    temperature: f64,
) -> Tensor<4> {
    let gradient = PoolGradient::Soft {
        temperature: temperature as f32,
    };
    gated_max_pool2d(x, kernel_size, stride, padding, gradient)
}

/// Hard max-pool with the hard gradient (one autodiff operation, the same values and
/// gradients as burn's `max_pool2d`; see the module docs). Call only where [`supported`]
/// holds for `x`.
///
/// # Shapes
/// - as [`excitation_max_pool2d`].
pub fn hard_max_pool2d(
    x: Tensor<4>,
    kernel_size: usize,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    gated_max_pool2d(x, kernel_size, stride, padding, PoolGradient::Hard)
}

fn gated_max_pool2d(
    x: Tensor<4>,
    kernel_size: usize,
    stride: usize,
    padding: usize,
    gradient: PoolGradient,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as GatedPoolBackend>::gated_max_pool2d(
        x.into_dispatch(),
        kernel_size,
        stride,
        padding,
        gradient,
    ))
}

/// A square pooling window: kernel size, stride and padding.
#[derive(Debug, Clone, Copy)]
struct Window {
    kernel_size: usize,
    stride: usize,
    padding: usize,
}

impl Window {
    /// # Panics
    /// If kernel or stride is zero or the padding exceeds half the kernel (PyTorch's rule,
    /// which [`crate::max_pool::GatedMaxPool2dConfig::init`] checks first; it guarantees
    /// that every window overlaps the plane).
    #[track_caller]
    fn new(kernel_size: usize, stride: usize, padding: usize) -> Self {
        assert!(
            kernel_size > 0 && stride > 0 && 2 * padding <= kernel_size,
            "max-pool: kernel {kernel_size}, stride {stride}, padding {padding}: kernel and \
             stride must be > 0 and the padding at most half the kernel"
        );
        Self {
            kernel_size,
            stride,
            padding,
        }
    }

    /// The output's `[oh, ow]` for an input plane of `[h, w]`.
    ///
    /// # Panics
    /// If the padded input is smaller than one window (the layer checks this first).
    fn output_size(&self, [h, w]: [usize; 2]) -> [usize; 2] {
        let (k, s, p) = (self.kernel_size, self.stride, self.padding);
        assert!(
            h + 2 * p >= k && w + 2 * p >= k,
            "input {h}×{w} (padding {p}) is smaller than the {k}×{k} window"
        );
        [(h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1]
    }

    /// The input row (or column) of output row `o`'s window entry `a`, if it is not padding.
    #[inline(always)]
    fn input_line(&self, o: usize, a: usize, size: usize) -> Option<usize> {
        (o * self.stride + a)
            .checked_sub(self.padding)
            .filter(|&y| y < size)
    }

    /// The output columns `ox` whose window entry in column `b` lies inside an input row of
    /// width `w` (not padding), out of `0..ow`: `0 ≤ ox·s + b − p < w`.
    fn inside_columns(&self, b: usize, w: usize, ow: usize) -> Range<usize> {
        let (s, p) = (self.stride, self.padding);
        let end = ((w + p).saturating_sub(b)).div_ceil(s).min(ow);
        let start = p.saturating_sub(b).div_ceil(s).min(end);
        start..end
    }
}

/// The hard max-pool of every plane of `x`.
fn hard_pool(x: FloatTensor<Flex>, window: Window) -> FloatTensor<Flex> {
    let _span = crate::profile::span(crate::profile::Kind::MaxPool);
    let shape = x.shape();
    let [n, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
    let [oh, ow] = window.output_size([h, w]);
    let x = contiguous(x);
    let xs = x.as_slice::<f32>().expect("contiguous f32 input");
    let mut out = crate::parallel::zeros(n * c * oh * ow);
    out.par_chunks_mut(oh * ow)
        .zip(xs.par_chunks(h * w))
        .for_each_init(
            || Scratch::new(window.kernel_size, ow),
            |scratch, (out, x)| run_plane(PlaneOp::Forward, x, &[], out, [h, w], window, scratch),
        );
    FloatTensor::<Flex>::from_data(TensorData::new(out, [n, c, oh, ow]))
}

/// The pool's input gradient for the output gradient `grad`.
fn pool_backward(
    x: FloatTensor<Flex>,
    grad: FloatTensor<Flex>,
    window: Window,
    gradient: PoolGradient,
) -> FloatTensor<Flex> {
    let _span = crate::profile::span(crate::profile::Kind::MaxPoolGrad);
    let shape = x.shape();
    let [n, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
    let [oh, ow] = window.output_size([h, w]);
    let (x, grad) = (contiguous(x), contiguous(grad));
    let xs = x.as_slice::<f32>().expect("contiguous f32 input");
    let gs = grad.as_slice::<f32>().expect("contiguous f32 gradient");
    let op = match gradient {
        PoolGradient::Hard => PlaneOp::HardGradient,
        PoolGradient::Soft { temperature } => PlaneOp::SoftGradient(temperature),
    };
    let mut out = crate::parallel::zeros(n * c * h * w);
    out.par_chunks_mut(h * w)
        .zip(xs.par_chunks(h * w))
        .zip(gs.par_chunks(oh * ow))
        .for_each_init(
            || Scratch::new(window.kernel_size, ow),
            |scratch, ((out, x), g)| run_plane(op, x, g, out, [h, w], window, scratch),
        );
    FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
}

/// What [`run_plane`] computes on one plane.
#[derive(Debug, Clone, Copy)]
enum PlaneOp {
    /// The hard max-pool, into `out` (`[oh, ow]`).
    Forward,
    /// The hard gradient for `g` (`[oh, ow]`), added into `out` (`[h, w]`).
    HardGradient,
    /// The soft gradient at this temperature for `g`, added into `out`.
    SoftGradient(f32),
}

/// Scratch space for the windows of one output row, one slot per output column `ox`; the
/// soft gradient's per-entry rows hold entry `i` of column `ox`'s window at `[i·ow + ox]`.
struct Scratch {
    /// Per column: the largest entry so far (hard) or the window's largest value (soft).
    max: Vec<f32>,
    /// Per column: the window entry `a·k + b` of the first maximum (hard).
    at: Vec<u32>,
    values: Vec<f32>,
    coefficients: Vec<f32>,
    sum: Vec<f32>,
    soft: Vec<f32>,
}

impl Scratch {
    fn new(k: usize, ow: usize) -> Self {
        Self {
            max: vec![0.0; ow],
            at: vec![0; ow],
            values: vec![0.0; k * k * ow],
            coefficients: vec![0.0; k * k * ow],
            sum: vec![0.0; ow],
            soft: vec![0.0; ow],
        }
    }
}

/// `op` on one plane `x` (`[h, w]`), compiled for the widest vector instructions this CPU
/// has (detected at run time, as `gate_op`'s gate loop). Same arithmetic in every version.
#[allow(unsafe_code)]
fn run_plane(
    op: PlaneOp,
    x: &[f32],
    g: &[f32],
    out: &mut [f32],
    hw: [usize; 2],
    window: Window,
    scratch: &mut Scratch,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked on the line above).
            return unsafe { simd::plane_avx512(op, x, g, out, hw, window, scratch) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked on the line above).
            return unsafe { simd::plane_avx2(op, x, g, out, hw, window, scratch) };
        }
    }
    plane_portable(op, x, g, out, hw, window, scratch)
}

/// [`plane_portable`] compiled with wider vector instructions. Calling them is `unsafe`
/// (the CPU must have the instructions), which [`run_plane`] does after checking.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{plane_portable, PlaneOp, Scratch, Window};

    #[target_feature(enable = "avx512f")]
    pub(super) fn plane_avx512(
        op: PlaneOp,
        x: &[f32],
        g: &[f32],
        out: &mut [f32],
        hw: [usize; 2],
        window: Window,
        scratch: &mut Scratch,
    ) {
        plane_portable(op, x, g, out, hw, window, scratch)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn plane_avx2(
        op: PlaneOp,
        x: &[f32],
        g: &[f32],
        out: &mut [f32],
        hw: [usize; 2],
        window: Window,
        scratch: &mut Scratch,
    ) {
        plane_portable(op, x, g, out, hw, window, scratch)
    }
}

/// [`run_plane`] one output row at a time.
#[inline(always)]
fn plane_portable(
    op: PlaneOp,
    x: &[f32],
    g: &[f32],
    out: &mut [f32],
    [h, w]: [usize; 2],
    window: Window,
    scratch: &mut Scratch,
) {
    let (k, s, p) = (window.kernel_size, window.stride, window.padding);
    let [oh, ow] = window.output_size([h, w]);
    let columns: Vec<Range<usize>> = (0..k).map(|b| window.inside_columns(b, w, ow)).collect();
    // Per output column, the first kernel column inside the plane.
    let first_column_entry: Vec<u32> = (0..ow)
        .map(|ox| {
            (0..k)
                .find(|&b| columns[b].contains(&ox))
                .expect("every window has a column inside the plane") as u32
        })
        .collect();
    for oy in 0..oh {
        match op {
            PlaneOp::Forward => {
                row_maxima(
                    x,
                    [h, w],
                    window,
                    oy,
                    &columns,
                    &first_column_entry,
                    scratch,
                );
                out[oy * ow..(oy + 1) * ow].copy_from_slice(&scratch.max);
            }
            PlaneOp::HardGradient => {
                row_maxima(
                    x,
                    [h, w],
                    window,
                    oy,
                    &columns,
                    &first_column_entry,
                    scratch,
                );
                for (ox, (&at, &go)) in scratch.at.iter().zip(&g[oy * ow..]).enumerate() {
                    let (a, b) = (at as usize / k, at as usize % k);
                    // `row_maxima` only picks entries inside the plane.
                    let y = oy * s + a - p;
                    out[y * w + ox * s + b - p] += go;
                }
            }
            PlaneOp::SoftGradient(t) => {
                soft_row_coefficients(
                    x,
                    &g[oy * ow..(oy + 1) * ow],
                    [h, w],
                    window,
                    oy,
                    t,
                    &columns,
                    scratch,
                );
                for a in 0..k {
                    let Some(y) = window.input_line(oy, a, h) else {
                        continue;
                    };
                    for b in 0..k {
                        let entry = a * k + b;
                        let coefficient = &scratch.coefficients[entry * ow..(entry + 1) * ow];
                        for ox in columns[b].clone() {
                            out[y * w + ox * s + b - p] += coefficient[ox];
                        }
                    }
                }
            }
        }
    }
}

/// For each window of output row `oy`: its largest value into `scratch.max` and the entry
/// `a·k + b` of its first maximum into `scratch.at`, row-major, a NaN counting as a maximum
/// and the last NaN winning (PyTorch's CPU rule: replace when `v > best || v.is_nan()`).
/// Only entries inside the plane are visited (−∞ padding never wins); `at` starts at each
/// window's first such entry (`first_column_entry`: its entry in the first row inside the
/// plane), which only an all-(−∞) window keeps. Each entry's values are gathered into a
/// contiguous row first, so the comparisons run as branch-free vector selects.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn row_maxima(
    x: &[f32],
    [h, w]: [usize; 2],
    window: Window,
    oy: usize,
    columns: &[Range<usize>],
    first_column_entry: &[u32],
    scratch: &mut Scratch,
) {
    let (k, s, p) = (window.kernel_size, window.stride, window.padding);
    let Scratch {
        max, at, values, ..
    } = scratch;
    let first_row = (0..k)
        .find(|&a| window.input_line(oy, a, h).is_some())
        .expect("every window has a row inside the plane");
    max.fill(f32::NEG_INFINITY);
    for (at, &b) in at.iter_mut().zip(first_column_entry) {
        *at = (first_row * k) as u32 + b;
    }
    let gathered = &mut values[..max.len()];
    for a in first_row..k {
        let Some(y) = window.input_line(oy, a, h) else {
            continue;
        };
        let row = &x[y * w..(y + 1) * w];
        for (b, cols) in columns.iter().enumerate() {
            let entry = (a * k + b) as u32;
            for ox in cols.clone() {
                gathered[ox] = row[ox * s + b - p];
            }
            let (gathered, max, at) = (
                &gathered[cols.clone()],
                &mut max[cols.clone()],
                &mut at[cols.clone()],
            );
            for ((best, at), &v) in max.iter_mut().zip(at.iter_mut()).zip(gathered) {
                let better = v > *best || v.is_nan();
                *best = if better { v } else { *best };
                *at = if better { entry } else { *at };
            }
        }
    }
}

/// For each window of output row `oy` (entries as `F.unfold` takes them, zeros where
/// padded): the soft pool's Jacobian coefficient `g · w_i (1 + (x_i − soft)/T)` of every
/// entry into `scratch.coefficients`, computed entry by entry across the row in branch-free
/// loops (max, softmax weights, soft value, coefficients).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn soft_row_coefficients(
    x: &[f32],
    g: &[f32],
    [h, w]: [usize; 2],
    window: Window,
    oy: usize,
    t: f32,
    columns: &[Range<usize>],
    scratch: &mut Scratch,
) {
    let (k, s, p) = (window.kernel_size, window.stride, window.padding);
    let ow = g.len();
    let Scratch {
        values,
        coefficients,
        max,
        sum,
        soft,
        ..
    } = scratch;
    for a in 0..k {
        let y = window.input_line(oy, a, h);
        for (b, cols) in columns.iter().enumerate() {
            let entry = &mut values[(a * k + b) * ow..(a * k + b + 1) * ow];
            entry.fill(0.0);
            if let Some(y) = y {
                for ox in cols.clone() {
                    entry[ox] = x[y * w + ox * s + b - p];
                }
            }
        }
    }
    max.fill(f32::NEG_INFINITY);
    for entry in values.chunks_exact(ow) {
        for (m, &v) in max.iter_mut().zip(entry) {
            *m = m.max(v);
        }
    }
    sum.fill(0.0);
    for (entry, wgt) in values
        .chunks_exact(ow)
        .zip(coefficients.chunks_exact_mut(ow))
    {
        for (((wgt, &v), &m), sm) in wgt.iter_mut().zip(entry).zip(&*max).zip(sum.iter_mut()) {
            *wgt = exp_nonpositive((v - m) / t);
            *sm += *wgt;
        }
    }
    soft.fill(0.0);
    for (entry, wgt) in values
        .chunks_exact(ow)
        .zip(coefficients.chunks_exact_mut(ow))
    {
        for (((wgt, &v), &sm), sf) in wgt.iter_mut().zip(entry).zip(&*sum).zip(soft.iter_mut()) {
            *wgt /= sm;
            *sf += *wgt * v;
        }
    }
    for (entry, wgt) in values
        .chunks_exact(ow)
        .zip(coefficients.chunks_exact_mut(ow))
    {
        for (((wgt, &v), &sf), &go) in wgt.iter_mut().zip(entry).zip(&*soft).zip(g) {
            *wgt = go * *wgt * (1.0 + (v - sf) / t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::max_pool::straight_through_max_pool2d;

    /// An input smaller than one window is refused by name on the flex route too.
    #[test]
    #[should_panic(expected = "smaller than the 3×3 window")]
    fn input_smaller_than_a_window_panics_with_its_size() {
        let dev = BackendKind::Flex.autodiff_device();
        let pool =
            crate::max_pool::GatedMaxPool2dConfig::new(3).init(crate::gate::GradientMode::paper());
        let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32; 4], [1, 1, 2, 2]), &dev)
            .require_grad();
        let _ = pool.forward(x);
    }

    /// A padding over half the kernel (windows that may miss the plane) is refused by name.
    #[test]
    #[should_panic(expected = "padding at most half the kernel")]
    fn padding_over_half_the_kernel_panics() {
        let dev = BackendKind::Flex.autodiff_device();
        let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32; 16], [1, 1, 4, 4]), &dev)
            .require_grad();
        let _ = excitation_max_pool2d(x, 2, 2, 2, 0.3);
    }

    /// Inputs with exact ties, all-negative windows (where the padded zeros win the softmax)
    /// and a spread of magnitudes.
    fn input(n: usize, c: usize, h: usize, w: usize) -> Vec<f32> {
        (0..n * c * h * w)
            .map(|i| match i % 11 {
                0 | 1 => 0.75,
                2 => -3.0,
                _ => ((i as f32 * 0.618_034).fract() - 0.6) * 4.0,
            })
            .collect()
    }

    /// `[n, c, h, w]` input `xv` on `dev`, tracked; stored either as it is or as `[n, h, w, c]`
    /// viewed through a permutation (a non-contiguous input). Returns the leaf and the view.
    fn tracked_input(
        xv: &[f32],
        [n, c, h, w]: [usize; 4],
        permuted: bool,
        dev: &Device,
    ) -> (Tensor<4>, Tensor<4>) {
        if permuted {
            let x = Tensor::<4>::from_data(TensorData::new(xv.to_vec(), [n, h, w, c]), dev)
                .require_grad();
            (x.clone(), x.permute([0, 3, 1, 2]))
        } else {
            let x = Tensor::<4>::from_data(TensorData::new(xv.to_vec(), [n, c, h, w]), dev)
                .require_grad();
            (x.clone(), x)
        }
    }

    /// Value and input gradient of `pool` at `x` for the output weights `0.5 + 0.3·(i mod 5)`.
    fn value_and_gradient(
        xv: &[f32],
        dims: [usize; 4],
        permuted: bool,
        pool: &dyn Fn(Tensor<4>) -> Tensor<4>,
    ) -> (Vec<f32>, Vec<f32>) {
        let dev = BackendKind::Flex.autodiff_device();
        let (leaf, x) = tracked_input(xv, dims, permuted, &dev);
        let y = pool(x);
        let [n, c, oh, ow] = y.dims();
        let gw: Vec<f32> = (0..n * c * oh * ow)
            .map(|i| 0.5 + (i % 5) as f32 * 0.3)
            .collect();
        let gw = Tensor::<4>::from_data(TensorData::new(gw, [n, c, oh, ow]), &dev);
        let value = tensor_to_vec(y.clone()).unwrap();
        let grads = (y * gw).sum().backward();
        (value, tensor_to_vec(leaf.grad(&grads).unwrap()).unwrap())
    }

    /// burn's own max-pool (not this module's), with its autodiff gradient.
    fn burn_max_pool(x: Tensor<4>, k: usize, s: usize, p: usize) -> Tensor<4> {
        burn::tensor::module::max_pool2d(
            x,
            burn::tensor::ops::MaxPoolOptions::new([k, k])
                .with_stride([s, s])
                .with_padding([p, p]),
        )
    }

    /// Pool geometries (k, s, p, h, w): VGG's (2, 2, 0), the ResNet/DenseNet stem's (3, 2, 1)
    /// on an odd size, a stride-1 overlap and a window wider than the stride with an input
    /// that the strides do not cover exactly.
    const GEOMETRIES: [(usize, usize, usize, usize, usize); 4] = [
        (2, 2, 0, 8, 6),
        (3, 2, 1, 9, 7),
        (3, 1, 1, 5, 5),
        (3, 2, 0, 8, 9),
    ];

    /// The hard operation against burn's max-pool and its autodiff gradient: equal values and
    /// gradients (ties included: both send a window's gradient to its first maximum), for a
    /// contiguous and a permuted input.
    #[test]
    fn hard_pool_matches_burn_max_pool() {
        for (k, s, p, h, w) in GEOMETRIES {
            for permuted in [false, true] {
                let dims = [2, 3, h, w];
                let xv = input(2, 3, h, w);
                assert!(supported(
                    &tracked_input(&xv, dims, permuted, &BackendKind::Flex.autodiff_device()).1
                ));
                let ours =
                    value_and_gradient(&xv, dims, permuted, &|x| hard_max_pool2d(x, k, s, p));
                let burns = value_and_gradient(&xv, dims, permuted, &|x| burn_max_pool(x, k, s, p));
                assert_eq!(
                    ours.0, burns.0,
                    "k{k} s{s} p{p} permuted={permuted}: values"
                );
                assert_eq!(
                    ours.1, burns.1,
                    "k{k} s{s} p{p} permuted={permuted}: gradients"
                );
            }
        }
    }

    /// Windows whose values are all −∞ (value −∞, gradient to the first entry inside the
    /// plane, as PyTorch's kernel which starts from that entry) and NaNs (value NaN, gradient
    /// to the last NaN: PyTorch replaces when `v > best || isnan(v)`), derived by hand and
    /// the same as PyTorch 2.x CPU gives on these inputs.
    #[test]
    fn infinite_and_nan_windows_follow_pytorch() {
        let dev = BackendKind::Flex.autodiff_device();
        let run = |xv: Vec<f32>, [h, w]: [usize; 2], k, s, p| {
            let x = Tensor::<4>::from_data(TensorData::new(xv, [1, 1, h, w]), &dev).require_grad();
            let y = hard_max_pool2d(x.clone(), k, s, p);
            let value = tensor_to_vec(y.clone()).unwrap();
            let grads = y.sum().backward();
            (value, tensor_to_vec(x.grad(&grads).unwrap()).unwrap())
        };
        let ninf = f32::NEG_INFINITY;
        // 3×3 windows, stride 2, padding 1 on a 2×2 plane of −∞: one window, whose first
        // entry inside the plane is (0, 0).
        let (v, g) = run(vec![ninf; 4], [2, 2], 3, 2, 1);
        assert_eq!(v, vec![ninf]);
        assert_eq!(g, vec![1.0, 0.0, 0.0, 0.0]);
        // 2×2 windows, no padding: [1, NaN / 3, NaN] → NaN, gradient to the last NaN.
        let (v, g) = run(vec![1.0, f32::NAN, 3.0, f32::NAN], [2, 2], 2, 2, 0);
        assert!(v[0].is_nan());
        assert_eq!(g, vec![0.0, 0.0, 0.0, 1.0]);
        // A NaN before a larger value still wins: [NaN, 5 / 1, 2] → NaN at entry 0.
        let (v, g) = run(vec![f32::NAN, 5.0, 1.0, 2.0], [2, 2], 2, 2, 0);
        assert!(v[0].is_nan());
        assert_eq!(g, vec![1.0, 0.0, 0.0, 0.0]);
    }

    /// The one-operation soft pool and the tensor form: the value equals burn's max-pool
    /// exactly, the gradient the tensor form's to float32 rounding, for the geometries above
    /// at several temperatures, for a contiguous and a permuted (non-contiguous) input.
    #[test]
    fn fused_pool_matches_tensor_form() {
        for (k, s, p, h, w) in GEOMETRIES {
            for t in [0.05, 0.3, 2.0] {
                for permuted in [false, true] {
                    let dims = [2, 3, h, w];
                    let xv = input(2, 3, h, w);
                    let (v1, g1) = value_and_gradient(&xv, dims, permuted, &|x| {
                        excitation_max_pool2d(x, k, s, p, t)
                    });
                    let (_, g2) = value_and_gradient(&xv, dims, permuted, &|x| {
                        straight_through_max_pool2d(x, k, s, p, t)
                    });
                    let (v3, _) =
                        value_and_gradient(&xv, dims, permuted, &|x| burn_max_pool(x, k, s, p));
                    assert_eq!(v1, v3, "k{k} s{s} p{p} T={t}: values");
                    let scale = g2.iter().fold(0f32, |m, v| m.max(v.abs()));
                    for (a, b) in g1.iter().zip(&g2) {
                        assert!(
                            (a - b).abs() <= 2e-6 * scale,
                            "k{k} s{s} p{p} T={t} permuted={permuted}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}
