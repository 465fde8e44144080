//! The excitation max-pool as one custom autodiff operation on flex.
//!
//! [`crate::max_pool::GatedMaxPool2d`] in an excitation mode has the hard max-pool as its
//! value and the gradient of softmax pooling at temperature T (paper Listing 2). Written with
//! tensor operations (the form that works on every backend) it stacks the k² strided windows
//! of its input, computes their softmax weights and Jacobian coefficients as whole tensors
//! and keeps them until the backward pass. Here it is one operation:
//!
//! - forward: flex's own hard max-pool, keeping the input (shared, not copied);
//! - backward: for every window W (taken as `F.unfold` takes it, zero padding included),
//!   with w = softmax(x_W / T) and soft = Σ_i w_i x_i, every real (not padded) entry x_i
//!   receives `grad_W · w_i (1 + (x_i − soft)/T)` = `grad_W · ∂soft/∂x_i`, summed over the
//!   windows that contain it. One pass over each `[h, w]` plane, planes split over rayon's
//!   threads (windows of one plane may overlap, so a plane is never split).
//!
//! The gradient equals the tensor form's to float32 rounding (tests below). Other devices,
//! and tensors that are not `f32`, keep the tensor form: see [`supported`].

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::gate_op::{exp_nonpositive, fused_ops_enabled};

/// Backends that run the excitation max-pool as one operation.
#[backend_extension(Autodiff, Flex)]
pub trait ExcitationPoolBackend: Backend {
    /// Hard max-pool (`k × k` windows, `stride`, implicit −∞ `padding`, floor mode); under
    /// autodiff its gradient is that of softmax pooling at temperature `t`.
    fn excitation_max_pool2d(
        x: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        t: f32,
    ) -> FloatTensor<Self>;
}

impl ExcitationPoolBackend for Flex {
    fn excitation_max_pool2d(
        x: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        _t: f32,
    ) -> FloatTensor<Self> {
        hard_pool(x, kernel_size, stride, padding)
    }
}

impl<C: CheckpointStrategy> ExcitationPoolBackend for Autodiff<Flex, C> {
    fn excitation_max_pool2d(
        x: FloatTensor<Self>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        t: f32,
    ) -> FloatTensor<Self> {
        /// The backward step: state is the input and the pool's parameters.
        #[derive(Debug)]
        struct ExcitationPool;

        impl Backward<Flex, 1> for ExcitationPool {
            type State = (FloatTensor<Flex>, Window, f32);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (x, window, t) = ops.state;
                unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
                    soft_pool_backward(x, grad, window, t)
                });
            }
        }

        let window = Window {
            kernel_size,
            stride,
            padding,
        };
        let (x, node) = x.into_parts();
        match ExcitationPool
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                (x.clone(), window, t),
                hard_pool(x, kernel_size, stride, padding),
            ),
            OpsKind::UnTracked(prep) => prep.finish(hard_pool(x, kernel_size, stride, padding)),
        }
    }
}

/// Whether `x` can use [`excitation_max_pool2d`]: an `f32` tensor on flex (with or without
/// autodiff), and the fused operations not switched off ([`crate::gate_op::set_fused_ops`]).
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
    Tensor::from_dispatch(<Dispatch as ExcitationPoolBackend>::excitation_max_pool2d(
        x.into_dispatch(),
        kernel_size,
        stride,
        padding,
        temperature as f32,
    ))
}

/// A square pooling window: kernel size, stride and zero padding.
#[derive(Debug, Clone, Copy)]
struct Window {
    kernel_size: usize,
    stride: usize,
    padding: usize,
}

fn hard_pool(x: FloatTensor<Flex>, k: usize, s: usize, p: usize) -> FloatTensor<Flex> {
    use burn::backend::ops::ModuleOps;
    Flex::max_pool2d(x, [k, k], [s, s], [p, p], [1, 1], false)
}

/// The gradient of softmax pooling with respect to its input, for the output gradient `grad`.
fn soft_pool_backward(
    x: FloatTensor<Flex>,
    grad: FloatTensor<Flex>,
    window: Window,
    t: f32,
) -> FloatTensor<Flex> {
    let shape = x.shape();
    let [n, c, h, w] = [shape[0], shape[1], shape[2], shape[3]];
    let [oh, ow] = [grad.shape()[2], grad.shape()[3]];
    let x = x.to_contiguous();
    let grad = grad.to_contiguous();
    let xs = x.as_slice::<f32>().expect("contiguous f32 input");
    let gs = grad.as_slice::<f32>().expect("contiguous f32 gradient");
    let mut out = vec![0f32; n * c * h * w];
    out.par_chunks_mut(h * w)
        .zip(xs.par_chunks(h * w))
        .zip(gs.par_chunks(oh * ow))
        .for_each(|((out, x), g)| plane_backward(x, g, out, [h, w], [oh, ow], window, t));
    FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
}

/// [`soft_pool_backward`] on one `[h, w]` plane `x` with output gradient `g` (`[oh, ow]`),
/// accumulated into `out`.
fn plane_backward(
    x: &[f32],
    g: &[f32],
    out: &mut [f32],
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    window: Window,
    t: f32,
) {
    let Window {
        kernel_size: k,
        stride: s,
        padding: p,
    } = window;
    if p == 0 && k * k <= MAX_UNPADDED_WINDOW {
        return unpadded_plane_backward(x, g, out, w, [oh, ow], k, s, t);
    }
    // Per window: the entries' values (0 where padded) and flat indices (None where padded).
    let mut values = vec![0f32; k * k];
    let mut index = vec![None; k * k];
    let mut weights = vec![0f32; k * k];
    for oy in 0..oh {
        for ox in 0..ow {
            for a in 0..k {
                for b in 0..k {
                    // Padded coordinates: (row, col) in the input is (y − p, x − p).
                    let (y, xx) = (oy * s + a, ox * s + b);
                    let inside = y >= p && y - p < h && xx >= p && xx - p < w;
                    let i = a * k + b;
                    index[i] = inside.then(|| (y - p) * w + (xx - p));
                    values[i] = index[i].map_or(0.0, |j| x[j]);
                }
            }
            let soft = softmax_pool(&values, &mut weights, t);
            let go = g[oy * ow + ox];
            for i in 0..k * k {
                if let Some(j) = index[i] {
                    out[j] += go * weights[i] * (1.0 + (values[i] - soft) / t);
                }
            }
        }
    }
}

/// Softmax pooling of one window: fills `weights` with softmax(values / t) and returns
/// Σ weights·values.
#[inline(always)]
fn softmax_pool(values: &[f32], weights: &mut [f32], t: f32) -> f32 {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for (wgt, v) in weights.iter_mut().zip(values) {
        *wgt = exp_nonpositive((v - max) / t);
        sum += *wgt;
    }
    let mut soft = 0f32;
    for (wgt, v) in weights.iter_mut().zip(values) {
        *wgt /= sum;
        soft += *wgt * v;
    }
    soft
}

/// Largest window (k²) of the unpadded fast path, which keeps a window on the stack.
const MAX_UNPADDED_WINDOW: usize = 16;

/// [`plane_backward`] without padding (VGG's pools): every window lies inside the plane, so
/// entries are read and written by offset, without the bookkeeping of padded entries. Same
/// arithmetic in the same order as the general path.
#[allow(clippy::too_many_arguments)]
fn unpadded_plane_backward(
    x: &[f32],
    g: &[f32],
    out: &mut [f32],
    w: usize,
    [oh, ow]: [usize; 2],
    k: usize,
    s: usize,
    t: f32,
) {
    let kk = k * k;
    let mut values = [0f32; MAX_UNPADDED_WINDOW];
    let mut weights = [0f32; MAX_UNPADDED_WINDOW];
    for oy in 0..oh {
        for ox in 0..ow {
            let corner = oy * s * w + ox * s;
            for a in 0..k {
                let row = corner + a * w;
                values[a * k..(a + 1) * k].copy_from_slice(&x[row..row + k]);
            }
            let (values, weights) = (&values[..kk], &mut weights[..kk]);
            let soft = softmax_pool(values, weights, t);
            let go = g[oy * ow + ox];
            for a in 0..k {
                let row = corner + a * w;
                for b in 0..k {
                    let i = a * k + b;
                    out[row + b] += go * weights[i] * (1.0 + (values[i] - soft) / t);
                }
            }
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

    /// The one-operation pool and the tensor form: equal values, gradients equal to float32
    /// rounding, for VGG's pool (2, 2, 0), the ResNet/DenseNet stem's (3, 2, 1) and an odd
    /// size, at several temperatures, for a contiguous and a permuted (non-contiguous) input.
    #[test]
    fn fused_pool_matches_tensor_form() {
        let dev = BackendKind::Flex.autodiff_device();
        for (k, s, p, h, w) in [(2, 2, 0, 8, 6), (3, 2, 1, 9, 7), (3, 1, 1, 5, 5)] {
            for t in [0.05, 0.3, 2.0] {
                for permuted in [false, true] {
                    let (n, c) = (2, 3);
                    let xv = input(n, c, h, w);
                    let run = |fused: bool| {
                        let x = if permuted {
                            // Stored as [n, h, w, c], viewed as [n, c, h, w].
                            Tensor::<4>::from_data(TensorData::new(xv.clone(), [n, h, w, c]), &dev)
                                .require_grad()
                        } else {
                            Tensor::<4>::from_data(TensorData::new(xv.clone(), [n, c, h, w]), &dev)
                                .require_grad()
                        };
                        let xi = if permuted {
                            x.clone().permute([0, 3, 1, 2])
                        } else {
                            x.clone()
                        };
                        assert!(supported(&xi));
                        let y = if fused {
                            excitation_max_pool2d(xi, k, s, p, t)
                        } else {
                            straight_through_max_pool2d(xi, k, s, p, t)
                        };
                        let [_, _, oh, ow] = y.dims();
                        let gw: Vec<f32> = (0..n * c * oh * ow)
                            .map(|i| 0.5 + (i % 5) as f32 * 0.3)
                            .collect();
                        let gw = Tensor::<4>::from_data(TensorData::new(gw, [n, c, oh, ow]), &dev);
                        let value = tensor_to_vec(y.clone()).unwrap();
                        let grads = (y * gw).sum().backward();
                        (value, tensor_to_vec(x.grad(&grads).unwrap()).unwrap())
                    };
                    let (v1, g1) = run(true);
                    let (v2, g2) = run(false);
                    assert_eq!(v1, v2, "k{k} s{s} p{p} T={t}: values");
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
