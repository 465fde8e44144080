//! The excitation ReLU as one custom autodiff operation on the CPU backends.
//!
//! [`crate::relu::gated_relu`] in an excitation mode needs a ReLU forward pass and a backward
//! pass `grad ⊙ σ(z/T)`. Written straight-through with tensor operations (the form that works
//! on every backend) that costs five extra element-wise passes in the forward pass and keeps
//! two extra tensors alive until the backward pass. This module registers it with burn's
//! autodiff as a single operation instead:
//!
//! - forward: `relu(z)`, keeping `z` (shared, not copied) for the backward pass;
//! - backward: one pass `grad ⊙ σ(z/T)`. On flex, for the paper's sigmoid and for the rescaled
//!   softsign, this pass is a branch-free loop over the raw `f32` buffers that the compiler
//!   vectorises (an `exp` accurate to a few ulp, see `exp_nonpositive`), split over rayon's
//!   threads and written into the incoming gradient's buffer when nothing else holds it.
//!   Every other case (ndarray, the normal CDF, `f64` tensors) composes the backend's own
//!   tensor operations.
//!
//! The value is exactly `relu(z)`; the gradient equals the straight-through form's to float32
//! rounding (tests below). Devices without this operation (wgpu) keep the straight-through
//! form: see [`supported`].

// burn-ndarray is deprecated upstream (in favour of flex); this crate keeps it supported.
#![allow(deprecated)]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::NdArray;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::gate::Sigma;

/// Backends that run the excitation ReLU as one operation.
#[backend_extension(Autodiff, Flex, NdArray)]
pub trait ExcitationReluBackend: Backend {
    /// `relu(z)` forward; under autodiff its gradient is `grad ⊙ σ(z / t)`.
    fn excitation_relu(z: FloatTensor<Self>, sigma: Sigma, t: f32) -> FloatTensor<Self> {
        let _ = (sigma, t);
        Self::relu_value(z)
    }

    /// `relu(z)`, the value of [`Self::excitation_relu`] (the backend's own ReLU unless a
    /// faster one is given).
    fn relu_value(z: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(z)
    }

    /// `relu(z)` forward; under autodiff its gradient is ReLU's own: `grad` where `z > 0` or
    /// `z` is NaN (as flex and PyTorch), 0 elsewhere.
    fn step_relu(z: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu_value(z)
    }

    /// The backward pass of [`Self::step_relu`]: the backend's own `relu_backward` (its mask on
    /// relu(z) is the same as on `z`) unless a faster one is given.
    fn step_relu_backward(z: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu_backward(z, grad)
    }

    /// `grad ⊙ σ(z / t)`, the backward pass of [`Self::excitation_relu`].
    fn excitation_relu_backward(
        z: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        sigma: Sigma,
        t: f32,
    ) -> FloatTensor<Self> {
        composed_backward::<Self>(z, grad, sigma, t)
    }
}

impl ExcitationReluBackend for NdArray {}

impl ExcitationReluBackend for Flex {
    /// Split over rayon's threads for contiguous `f32` tensors of more than one task's
    /// elements (flex's own ReLU runs on the calling thread: 7 % of the main thread's time in
    /// a ResNet50 pullback profile, while the other cores wait).
    fn relu_value(z: FloatTensor<Flex>) -> FloatTensor<Flex> {
        let _span = crate::profile::span(crate::profile::Kind::Gate);
        if z.dtype() != DType::F32 || !z.is_contiguous() || z.shape().num_elements() <= CHUNK {
            return <Flex as burn::backend::ops::ActivationOps<Flex>>::relu(z);
        }
        let shape = z.shape();
        let values = z.as_slice::<f32>().expect("contiguous f32 tensor");
        let out: Vec<f32> = values
            .par_iter()
            .with_min_len(CHUNK)
            // As flex's ReLU: NaN propagates (`f32::max` would map it to 0).
            .map(|&z| if z.is_nan() || z > 0.0 { z } else { 0.0 })
            .collect();
        FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
    }

    fn excitation_relu_backward(
        z: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        sigma: Sigma,
        t: f32,
    ) -> FloatTensor<Self> {
        let _span = crate::profile::span(crate::profile::Kind::GateGrad);
        match sigma {
            Sigma::Sigmoid | Sigma::Softsign
                if z.dtype() == DType::F32 && grad.dtype() == DType::F32 =>
            {
                fused_flex_backward(z, grad, sigma, t)
            }
            _ => composed_backward::<Self>(z, grad, sigma, t),
        }
    }

    fn step_relu_backward(z: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let _span = crate::profile::span(crate::profile::Kind::GateGrad);
        if z.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return <Flex as burn::backend::ops::ActivationOps<Flex>>::relu_backward(z, grad);
        }
        flex_backward_with(z, grad, step_in_place)
    }
}

impl<B: Backend + ExcitationReluBackend, C: CheckpointStrategy> ExcitationReluBackend
    for Autodiff<B, C>
{
    fn excitation_relu(z: FloatTensor<Self>, sigma: Sigma, t: f32) -> FloatTensor<Self> {
        /// The backward step: state is the input `z` and the gate's parameters.
        #[derive(Debug)]
        struct ExcitationRelu;

        impl<B: Backend + ExcitationReluBackend> Backward<B, 1> for ExcitationRelu {
            type State = (FloatTensor<B>, Sigma, f32);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (z, sigma, t) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::excitation_relu_backward(z, grad, sigma, t)
                });
            }
        }

        let (z, node) = z.into_parts();
        match ExcitationRelu
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((z.clone(), sigma, t), B::relu_value(z)),
            OpsKind::UnTracked(prep) => prep.finish(B::relu_value(z)),
        }
    }

    fn step_relu(z: FloatTensor<Self>) -> FloatTensor<Self> {
        /// The backward step: state is the input `z`.
        #[derive(Debug)]
        struct StepRelu;

        impl<B: Backend + ExcitationReluBackend> Backward<B, 1> for StepRelu {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let z = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::step_relu_backward(z, grad)
                });
            }
        }

        let (z, node) = z.into_parts();
        match StepRelu.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(z.clone(), B::relu_value(z)),
            OpsKind::UnTracked(prep) => prep.finish(B::relu_value(z)),
        }
    }
}

/// Whether the CPU backends' single-operation gates ([`excitation_relu`] and
/// [`crate::pool_op::excitation_max_pool2d`]) are used where supported (the default).
static FUSED_OPS: AtomicBool = AtomicBool::new(true);

/// Switches the single-operation gates on or off for the whole process. Off, every backend
/// uses the straight-through tensor forms: same values, same gradients to float32 rounding,
/// more time and memory. For benchmarks and comparisons (`bench_models --straight-through`).
pub fn set_fused_ops(enabled: bool) {
    FUSED_OPS.store(enabled, Ordering::Relaxed);
}

/// Whether the single-operation gates are switched on ([`set_fused_ops`]).
pub fn fused_ops_enabled() -> bool {
    FUSED_OPS.load(Ordering::Relaxed)
}

/// Whether tensors on `device` can use [`excitation_relu`] (flex and ndarray, with or without
/// autodiff, unless switched off by [`set_fused_ops`]); other devices use the straight-through
/// form.
pub fn supported(device: &Device) -> bool {
    let inner = device.clone().inner();
    fused_ops_enabled() && (inner == Device::flex() || inner == Device::ndarray())
}

/// `relu(z)` whose gradient is `σ(z/T)` (one autodiff operation; see the module docs).
/// Call only where [`supported`] holds for `z`'s device.
///
/// # Shapes
/// - `z`: any shape; output: same shape.
pub fn excitation_relu<const D: usize>(z: Tensor<D>, sigma: Sigma, temperature: f64) -> Tensor<D> {
    let t = temperature as f32;
    Tensor::from_dispatch(<Dispatch as ExcitationReluBackend>::excitation_relu(
        z.into_dispatch(),
        sigma,
        t,
    ))
}

/// `relu(z)` with ReLU's own gradient (`grad` where `z > 0` or NaN, 0 elsewhere, as flex and
/// PyTorch), one autodiff operation; on flex its value and its backward pass are split over
/// rayon's threads (flex's own ReLU and `relu_backward` run on the calling thread). Call only
/// where [`supported`] holds for `z`'s device.
///
/// # Shapes
/// - `z`: any shape; output: same shape.
pub fn relu<const D: usize>(z: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as ExcitationReluBackend>::step_relu(
        z.into_dispatch(),
    ))
}

/// `grad ⊙ σ(z / t)` from the backend's own tensor operations (same formulas as
/// [`Sigma::gate`]).
fn composed_backward<B: Backend>(
    z: FloatTensor<B>,
    grad: FloatTensor<B>,
    sigma: Sigma,
    t: f32,
) -> FloatTensor<B> {
    let u = B::float_div_scalar(z, t.into());
    let gate = match sigma {
        Sigma::Sigmoid => B::sigmoid(u),
        Sigma::NormalCdf => {
            let e = B::float_erf(B::float_div_scalar(u, std::f32::consts::SQRT_2.into()));
            B::float_mul_scalar(B::float_add_scalar(e, 1.0f32.into()), 0.5f32.into())
        }
        Sigma::Softsign => {
            let denom = B::float_add_scalar(B::float_abs(u.clone()), 1.0f32.into());
            let s = B::float_div(u, denom);
            B::float_mul_scalar(B::float_add_scalar(s, 1.0f32.into()), 0.5f32.into())
        }
    };
    B::float_mul(grad, gate)
}

/// Elements per rayon task: large enough that the split costs nothing, small enough to keep
/// both cores busy on the smallest activation maps.
const CHUNK: usize = 1 << 14;

/// The fused flex backward pass for `f32` tensors of the same shape.
fn fused_flex_backward(
    z: FloatTensor<Flex>,
    grad: FloatTensor<Flex>,
    sigma: Sigma,
    t: f32,
) -> FloatTensor<Flex> {
    flex_backward_with(z, grad, |zs, out| gate_chunk(zs, out, t, sigma))
}

/// `out[i]` kept where `zs[i] > 0` or NaN (as flex's `relu_backward`), else 0. A select, not
/// a conditional store, so that the loop vectorises (the signs of z are random).
fn step_in_place(zs: &[f32], out: &mut [f32]) {
    for (o, &z) in out.iter_mut().zip(zs) {
        *o = if z.is_nan() || z > 0.0 { *o } else { 0.0 };
    }
}

/// `kernel(z chunk, gradient chunk)` over `f32` tensors of the same shape, in parallel chunks,
/// in the incoming gradient's buffer when it is ours alone and laid out plainly (else a copy).
fn flex_backward_with(
    z: FloatTensor<Flex>,
    grad: FloatTensor<Flex>,
    kernel: impl Fn(&[f32], &mut [f32]) + Sync,
) -> FloatTensor<Flex> {
    let shape = z.shape();
    let z = if z.is_contiguous() {
        z
    } else {
        z.to_contiguous()
    };
    let z_values = z.as_slice::<f32>().expect("contiguous f32 tensor");

    // Reuse the incoming gradient's buffer when it is ours alone and laid out plainly.
    let mut grad = grad;
    let plain = grad.is_contiguous()
        && grad.layout().contiguous_offsets() == Some((0, shape.num_elements()));
    if plain && grad.storage::<f32>().len() == shape.num_elements() {
        if let Some(out) = grad.try_storage_mut::<f32>() {
            out.par_chunks_mut(CHUNK)
                .zip(z_values.par_chunks(CHUNK))
                .for_each(|(o, zs)| kernel(zs, o));
            return grad;
        }
    }
    let grad = if grad.is_contiguous() {
        grad
    } else {
        grad.to_contiguous()
    };
    let mut out = crate::parallel::copied(grad.as_slice::<f32>().expect("contiguous f32 tensor"));
    out.par_chunks_mut(CHUNK)
        .zip(z_values.par_chunks(CHUNK))
        .for_each(|(o, zs)| kernel(zs, o));
    FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
}

/// `out[i] *= σ(zs[i] / t)` for the sigmoid or the rescaled softsign, compiled for the
/// widest vector instructions this CPU has: AVX-512 or AVX2 where present (detected at run
/// time), otherwise the baseline x86-64 (SSE2) or the target's default. Same arithmetic in
/// every version (Rust does not contract `a*b + c` into fused multiply-adds), so the same
/// values.
#[allow(unsafe_code)]
fn gate_chunk(zs: &[f32], out: &mut [f32], t: f32, sigma: Sigma) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked on the line above).
            return unsafe { simd::gate_chunk_avx512(zs, out, t, sigma) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked on the line above).
            return unsafe { simd::gate_chunk_avx2(zs, out, t, sigma) };
        }
    }
    gate_chunk_portable(zs, out, t, sigma)
}

#[inline(always)]
fn gate_chunk_portable(zs: &[f32], out: &mut [f32], t: f32, sigma: Sigma) {
    match sigma {
        Sigma::Sigmoid => gate_in_place(zs, out, t, sigmoid),
        _ => gate_in_place(zs, out, t, softsign01),
    }
}

/// [`gate_chunk_portable`] compiled with wider vector instructions. Calling them is `unsafe`
/// (the CPU must have the instructions), which [`gate_chunk`] does after checking.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{gate_chunk_portable, Sigma};

    #[target_feature(enable = "avx512f")]
    pub(super) fn gate_chunk_avx512(zs: &[f32], out: &mut [f32], t: f32, sigma: Sigma) {
        gate_chunk_portable(zs, out, t, sigma)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn gate_chunk_avx2(zs: &[f32], out: &mut [f32], t: f32, sigma: Sigma) {
        gate_chunk_portable(zs, out, t, sigma)
    }
}

/// `out[i] *= gate(zs[i] / t)`: one branch-free loop, which the compiler vectorises.
#[inline(always)]
fn gate_in_place(zs: &[f32], out: &mut [f32], t: f32, gate: impl Fn(f32) -> f32) {
    for (o, &z) in out.iter_mut().zip(zs) {
        *o *= gate(z / t);
    }
}

/// Logistic sigmoid without branches: with `e = exp(−|u|)`, σ(u) = 1/(1+e) for u ≥ 0 and
/// e/(1+e) otherwise. NaN stays NaN.
#[inline(always)]
pub(crate) fn sigmoid(u: f32) -> f32 {
    let e = exp_nonpositive(-u.abs());
    let r = 1.0 / (1.0 + e);
    if u >= 0.0 {
        r
    } else {
        e * r
    }
}

/// The rescaled softsign (1 + u/(1 + |u|))/2.
#[inline(always)]
fn softsign01(u: f32) -> f32 {
    0.5 * (1.0 + u / (1.0 + u.abs()))
}

/// `exp(x)` for `x ≤ 0`, branch-free and vectorisable (Cephes' `expf`: x = n·ln2 + r with
/// |r| ≤ ln2/2, a degree-7 polynomial for e^r, 2^n from the exponent bits). Relative error
/// ≤ 2e-7 on [−87, 0]; below −87, where e^x < 1.7e-38 would need subnormal floats, it
/// returns 0.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2²³ rounds to the nearest integer in the low mantissa bits (no `round`
    // call, which would not vectorise on baseline x86-64).
    const SHIFTER: f32 = 12_582_912.0;
    let x_in = x;
    // Not `max`, which would turn NaN into −87: NaN must stay NaN.
    let x = if x < -87.0 { -87.0 } else { x };
    let t = x * LOG2E + SHIFTER;
    let n = t - SHIFTER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // n ∈ [−126, 0]: 2^n is a normal float with biased exponent n + 127.
    let n_int = (t.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    if x_in < -87.0 {
        0.0
    } else {
        er * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::relu::straight_through_relu;

    #[test]
    fn exp_matches_f64_on_its_whole_range() {
        let mut worst = 0f64;
        for i in 0..=2_000_000 {
            let x = -87.0 * i as f32 / 2_000_000.0;
            let want = (x as f64).exp();
            let got = exp_nonpositive(x) as f64;
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 2e-7, "worst relative error {worst}");
        assert_eq!(exp_nonpositive(-87.5), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

    #[test]
    fn sigmoid_matches_f64() {
        for i in -4000..=4000 {
            let u = i as f32 * 0.025;
            let want = 1.0 / (1.0 + (-(u as f64)).exp());
            let got = sigmoid(u) as f64;
            // Below u = −87, σ(u) < 1.7e-38 is returned as 0.
            assert!(
                (got - want).abs() <= 2e-7 * want + 2e-38,
                "u = {u}: {got} vs {want}"
            );
        }
        assert!(sigmoid(f32::NAN).is_nan());
    }

    /// Values of z spread over several temperatures' interesting range, including 0 and
    /// large magnitudes, in a shape that is not a multiple of the chunk size.
    fn z_values(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as f32 * 0.618_034).fract() - 0.5) * 8.0 * if i % 7 == 0 { 30.0 } else { 1.0 }
            })
            .collect()
    }

    /// The one-operation ReLU and the straight-through form: equal values, and gradients
    /// equal to float32 rounding, for every σ, on flex and ndarray, for a contiguous input and
    /// a transposed (non-contiguous) one.
    #[test]
    fn fused_op_matches_straight_through() {
        let (rows, cols) = (97, 411);
        let zv = z_values(rows * cols);
        let gv: Vec<f32> = (0..rows * cols)
            .map(|i| 0.5 + (i % 13) as f32 * 0.1)
            .collect();
        for backend in [BackendKind::Flex, BackendKind::NdArray] {
            let dev = backend.autodiff_device();
            assert!(supported(&dev) && supported(&backend.device()));
            for sigma in Sigma::ALL {
                for t in [0.05, 0.3, 2.0] {
                    for transposed in [false, true] {
                        let run = |fused: bool| {
                            let z = Tensor::<2>::from_data(
                                TensorData::new(zv.clone(), [rows, cols]),
                                &dev,
                            )
                            .require_grad();
                            let w = Tensor::<2>::from_data(
                                TensorData::new(gv.clone(), [rows, cols]),
                                &dev,
                            );
                            let (zi, w) = if transposed {
                                (z.clone().transpose(), w.transpose())
                            } else {
                                (z.clone(), w)
                            };
                            let y = if fused {
                                excitation_relu(zi, sigma, t)
                            } else {
                                straight_through_relu(zi, sigma, t)
                            };
                            let value = tensor_to_vec(y.clone()).unwrap();
                            let grads = (y * w).sum().backward();
                            (value, tensor_to_vec(z.grad(&grads).unwrap()).unwrap())
                        };
                        let (v1, g1) = run(true);
                        let (v2, g2) = run(false);
                        assert_eq!(v1, v2, "{backend} {sigma} T={t}: values");
                        for (i, (a, b)) in g1.iter().zip(&g2).enumerate() {
                            assert!(
                                (a - b).abs() <= 1e-6 * b.abs() + 2e-38,
                                "{backend} {sigma} T={t} transposed={transposed} z={}: {a} vs {b}",
                                zv[i]
                            );
                        }
                    }
                }
            }
        }
    }

    /// Without a graph the operation is a plain ReLU.
    #[test]
    fn untracked_input_is_a_plain_relu() {
        let dev = BackendKind::Flex.device();
        let zv = z_values(1000);
        let z = Tensor::<1>::from_data(TensorData::new(zv.clone(), [1000]), &dev);
        let y = tensor_to_vec(excitation_relu(z, Sigma::Sigmoid, 0.3)).unwrap();
        assert!(y.iter().zip(&zv).all(|(a, b)| *a == b.max(0.0)));
    }

    #[test]
    fn parallel_relu_value_equals_flex_relu_nan_included() {
        // Over several rayon chunks, with NaN, ±0, ±∞; and a transposed (non-contiguous) view,
        // which takes flex's own ReLU.
        let n = 5 * (3 * CHUNK / 5 + 2); // a [n / 5, 5] matrix just over three chunks
        let mut zv = z_values(n);
        zv[7] = f32::NAN;
        zv[CHUNK] = -0.0;
        zv[CHUNK + 1] = f32::INFINITY;
        zv[n - 1] = f32::NEG_INFINITY;
        let dev = BackendKind::Flex.device();
        let z = Tensor::<2>::from_data(TensorData::new(zv, [n / 5, 5]), &dev);
        for z in [z.clone(), z.transpose()] {
            let ours = tensor_to_vec(Tensor::<2>::from_dispatch(
                <Dispatch as ExcitationReluBackend>::relu_value(z.clone().into_dispatch()),
            ))
            .unwrap();
            let flex = tensor_to_vec(burn::tensor::activation::relu(z)).unwrap();
            assert_eq!(ours.len(), flex.len());
            for (a, b) in ours.iter().zip(&flex) {
                assert!(a.to_bits() == b.to_bits(), "{a} vs {b}");
            }
        }
    }

    /// The flex backward passes write into the incoming gradient when nothing else holds it,
    /// and otherwise into a copy (made in parallel above 2¹⁶ values) that leaves the shared
    /// gradient intact: both give the same values, for the gate and the step.
    #[test]
    fn backward_passes_leave_a_shared_gradient_intact() {
        let n = 5 * CHUNK + 3;
        let (zv, gv) = (z_values(n), z_values(n + 1)[1..].to_vec());
        let tensor = |v: &[f32]| FloatTensor::<Flex>::from_data(TensorData::new(v.to_vec(), [n]));
        let want: Vec<f32> = zv
            .iter()
            .zip(&gv)
            .map(|(&z, &g)| if z > 0.0 { g } else { 0.0 })
            .collect();
        let in_place = flex_backward_with(tensor(&zv), tensor(&gv), step_in_place);
        assert_eq!(in_place.as_slice::<f32>().unwrap(), &want[..]);
        let shared = tensor(&gv);
        let copied = flex_backward_with(tensor(&zv), shared.clone(), step_in_place);
        assert_eq!(copied.as_slice::<f32>().unwrap(), &want[..]);
        assert_eq!(
            shared.as_slice::<f32>().unwrap(),
            &gv[..],
            "shared gradient changed"
        );
        let gated = fused_flex_backward(tensor(&zv), shared.clone(), Sigma::Sigmoid, 0.3);
        for ((&got, &z), &g) in gated.as_slice::<f32>().unwrap().iter().zip(&zv).zip(&gv) {
            let u = (z / 0.3) as f64; // the kernel's own f32 argument
            let want = g as f64 / (1.0 + (-u).exp());
            assert!(
                (got as f64 - want).abs() <= 1e-6 * want.abs() + 1e-30,
                "{got} vs {want}"
            );
        }
        assert_eq!(
            shared.as_slice::<f32>().unwrap(),
            &gv[..],
            "shared gradient changed"
        );
    }
}
