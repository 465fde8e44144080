//! BatchNorm in inference mode as one affine map per channel.
//!
//! With its running statistics μ, σ² (eval mode) BatchNorm is
//! `y = (x − μ) / √(σ² + ε) · γ + β`, a fixed affine map per channel: `y = a·x + b` with
//! `a = γ / √(σ² + ε)` and `b = β − μ·a`. burn's inference path evaluates it as four broadcast
//! operations over the activation (subtract, divide, multiply, add), each recorded by
//! autodiff; [`batch_norm_inference`] computes `a` and `b` on the per-channel vectors and
//! applies them in one pass ([`crate::elementwise_op::channel_affine`]: on flex one parallel
//! operation, elsewhere a broadcast multiply and add), whose backward pass is a single
//! multiply. Same value to
//! float32 rounding (tests below and the PyTorch parity tests).

use burn::nn::BatchNorm;
use burn::tensor::{Device, Tensor};

use crate::elementwise_op::{channel_affine_sharing, SharedGradient};

/// `bn` applied to `x` with its running statistics, as `a·x + b` per channel; in training
/// mode on an autodiff device (batch statistics) it defers to `bn.forward`.
///
/// # Shapes
/// - `x`: `[batch, channels, ...]` with `channels` = `bn`'s number of features; output: same.
pub fn batch_norm_inference<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    batch_norm_inference_sharing(bn, x, None)
}

/// [`batch_norm_inference`], sending `x`'s gradient through `shared` ([`SharedGradient`])
/// where the per-channel map is the parallel operation.
///
/// # Shapes
/// - `x`: `[batch, channels, ...]` with `channels` = `bn`'s number of features; output: same.
pub fn batch_norm_inference_sharing<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    shared: Option<&SharedGradient>,
) -> Tensor<D> {
    let Some((a, b)) = inference_affine(bn, &x.device()) else {
        return bn.forward(x);
    };
    channel_affine_sharing(x, a, b, shared)
}

/// The per-channel `(a, b)` of `bn`'s inference map `y = a·x + b` on `device`, or `None` in
/// training mode on an autodiff device (where burn's BatchNorm uses batch statistics).
///
/// # Shapes
/// - both `[channels]`.
pub fn inference_affine(bn: &BatchNorm, device: &Device) -> Option<(Tensor<1>, Tensor<1>)> {
    if device.is_autodiff() && bn.training.is_enabled() {
        return None;
    }
    let mean = bn.running_mean.value().to_device(device);
    let var = bn.running_var.value().to_device(device);
    let a = bn.gamma.val().to_device(device) / var.add_scalar(bn.epsilon).sqrt();
    let b = bn.beta.val().to_device(device) - mean * a.clone();
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::testing::values;
    use burn::module::Module;
    use burn::nn::BatchNormConfig;
    use burn::tensor::TensorData;

    /// A BatchNorm with non-trivial statistics and affine parameters, in eval mode.
    fn bn(c: usize, device: &burn::tensor::Device) -> BatchNorm {
        let mut bn = BatchNormConfig::new(c).init(device);
        let vec = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [c]), device);
        bn.gamma = bn.gamma.map(|_| vec(values(c, 1)));
        bn.beta = bn.beta.map(|_| vec(values(c, 2)));
        bn.running_mean = burn::module::RunningState::new(vec(values(c, 3)));
        bn.running_var = burn::module::RunningState::new(vec(values(c, 4)
            .iter()
            .map(|v| 0.2 + v.abs())
            .collect()));
        bn.no_grad().valid()
    }

    /// Same values as burn's own inference path and as the f64 formula; same input gradient on
    /// an autodiff device.
    #[test]
    fn affine_form_matches_batch_norm() {
        let (n, c, h, w) = (2, 5, 3, 4);
        for backend in [BackendKind::Flex, BackendKind::NdArray] {
            let dev = backend.autodiff_device();
            let layer = bn(c, &dev);
            let xv = values(n * c * h * w, 5);
            let x = || {
                Tensor::<4>::from_data(TensorData::new(xv.clone(), [n, c, h, w]), &dev)
                    .require_grad()
            };
            let (x1, x2) = (x(), x());
            let y1 = batch_norm_inference(&layer, x1.clone());
            let y2 = layer.forward(x2.clone());
            let v1 = tensor_to_vec(y1.clone()).unwrap();
            let v2 = tensor_to_vec(y2.clone()).unwrap();
            let (g, b, m, var) = (values(c, 1), values(c, 2), values(c, 3), values(c, 4));
            for (i, (a, r)) in v1.iter().zip(&v2).enumerate() {
                let ch = (i / (h * w)) % c;
                let s = 0.2 + var[ch].abs() as f64;
                let exact =
                    (xv[i] as f64 - m[ch] as f64) / (s + 1e-5).sqrt() * g[ch] as f64 + b[ch] as f64;
                assert!(
                    (*a as f64 - exact).abs() < 1e-5 * (1.0 + exact.abs()),
                    "{backend}: {a} vs f64 {exact}"
                );
                assert!(
                    (a - r).abs() < 1e-5 * (1.0 + r.abs()),
                    "{backend}: {a} vs burn {r}"
                );
            }
            let w = Tensor::<4>::from_data(
                TensorData::new(values(n * c * h * w, 6), [n, c, h, w]),
                &dev,
            );
            let d1 = tensor_to_vec(x1.grad(&(y1 * w.clone()).sum().backward()).unwrap()).unwrap();
            let d2 = tensor_to_vec(x2.grad(&(y2 * w).sum().backward()).unwrap()).unwrap();
            for (a, r) in d1.iter().zip(&d2) {
                assert!(
                    (a - r).abs() < 1e-5 * (1.0 + r.abs()),
                    "{backend} gradient: {a} vs {r}"
                );
            }
        }
    }
}
