//! Frozen convolutions as one custom autodiff operation on flex: 3×3 by Winograd's
//! F(2×2, 3×3), 1×1 with a direct input gradient, small ones by im2col and a threaded GEMM.
//!
//! The models' convolutions are frozen (no parameter gradients), so a pullback needs from
//! each one only its value and its input gradient. Each of the following gets a cheaper
//! computation here than burn's default, registered with burn's autodiff as one operation
//! that keeps only the weight for the backward pass:
//!
//! - 3×3, stride 1, padding 1 ([`FrozenPath::Winograd`]): value and input gradient by
//!   [`crate::winograd::conv3x3`] (2.25× fewer multiply-adds than flex's im2col + GEMM; the
//!   input gradient is the same kind of convolution with flipped, transposed kernels);
//! - 1×1, stride 1 ([`FrozenPath::Pointwise`]): one GEMM per image on the image as it is,
//!   forward `W · x[n]` and input gradient `Wᵀ · dy[n]`, split over the threads (flex's own
//!   returns a channels-last view that the next operation copies; burn's input gradient is a
//!   transposed convolution, a GEMM and then a scatter into a zeroed output);
//! - any other convolution with few output pixels per image or few input channels
//!   ([`FrozenPath::Im2col`]: strided layers, 3×3 layers with too few tiles for Winograd, the
//!   RGB input layers): [`crate::im2col`], whose GEMM is split over the threads even for one
//!   image.
//!
//! [`conv2d`] is the models' entry point: it takes these paths where they apply (see
//! [`frozen_path`]) and calls burn's own `Conv2d::forward` everywhere else (large images
//! outside Winograd's reach, other devices and dtypes, trainable weights). Values and
//! gradients equal burn's to float32 rounding (tests below and the PyTorch parity tests).
//! [`crate::gate_op::set_fused_ops`]`(false)` switches all paths off together with the
//! single-operation gates; [`set_winograd`]`(false)` and [`set_im2col`]`(false)` one each.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::nn::conv::Conv2d;
use burn::nn::BatchNorm;
use burn::nn::PaddingConfig2d;
use burn::tensor::{DType, Device, Tensor, TensorData};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::batch_norm::{batch_norm_inference, inference_affine};
use crate::elementwise_op::SharedGradient;
use crate::flex_values::{contiguous, values};
use crate::gate_op::fused_ops_enabled;
use crate::im2col;
use crate::winograd::{self, Kernels};

/// Which computation a frozen convolution takes (see [`conv2d`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrozenPath {
    /// 3×3, stride 1, padding 1: Winograd F(2×2, 3×3) forward and backward.
    Winograd,
    /// 1×1, stride 1, no padding: one GEMM per image on the image as it is (`W · x[n]`, the
    /// input gradient `Wᵀ · dy[n]`), split over the threads ([`im2col::conv2d`] and
    /// [`im2col::conv2d_input_gradient`], which skip their gather and col2im here). flex's
    /// own 1×1 convolution returns a channels-last view that the next operation copies, and
    /// burn's default input gradient goes through a transposed convolution (GEMM, then a
    /// scatter into a zeroed buffer).
    Pointwise,
    /// Any other frozen convolution (no dilation, one group) with few output pixels per
    /// image or few input channels ([`im2col::worthwhile`]): forward by [`im2col::conv2d`]
    /// (the weight as it is, one GEMM per image split over the threads); input gradient by
    /// [`im2col::conv2d_input_gradient`] (its adjoint: GEMM, then col2im). `input` is the
    /// input's `[h, w]`, which strided layers do not determine from the output's.
    Im2col {
        /// Kernel size, stride and padding.
        geometry: im2col::Geometry,
        /// The input's `[h, w]`.
        input: [usize; 2],
    },
}

impl FrozenPath {
    /// The [`im2col`] geometry of the Pointwise and Im2col paths (`None` for Winograd).
    fn im2col_geometry(&self) -> Option<im2col::Geometry> {
        match *self {
            FrozenPath::Winograd => None,
            FrozenPath::Pointwise => Some(im2col::Geometry::POINTWISE),
            FrozenPath::Im2col { geometry, .. } => Some(geometry),
        }
    }
}

/// Backends that run a frozen convolution as one operation.
#[backend_extension(Autodiff, Flex)]
pub trait FrozenConvBackend: Backend {
    /// `conv(x, scale·weight) + bias` along `path` (`scale` per output channel: a folded
    /// BatchNorm, or ones); under autodiff only `x` receives a gradient. (`bias` is a tensor of
    /// zeros for a convolution without one, `has_bias` false: the extension macro does not take
    /// optional tensors here.) `x`'s gradient goes through `shared` when given.
    fn frozen_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        has_bias: bool,
        path: FrozenPath,
        shared: Option<SharedGradient>,
    ) -> FloatTensor<Self>;
}

impl FrozenConvBackend for Flex {
    fn frozen_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        has_bias: bool,
        path: FrozenPath,
        _shared: Option<SharedGradient>,
    ) -> FloatTensor<Self> {
        match path {
            FrozenPath::Winograd => {
                let _span = crate::profile::span(crate::profile::Kind::ConvWinograd);
                let [n, c, h, w] = x.shape().dims();
                let k = weight.shape().dims::<4>()[0];
                let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
                let scale = contiguous(scale);
                let y = winograd::conv3x3(
                    values(&x),
                    [n, c, h, w],
                    values(&weight),
                    k,
                    Kernels::Forward,
                    has_bias.then(|| values(&bias)),
                    Some(values(&scale)),
                );
                FloatTensor::<Flex>::from_data(TensorData::new(y, [n, k, h, w]))
            }
            FrozenPath::Pointwise | FrozenPath::Im2col { .. } => {
                let _span = crate::profile::span(crate::profile::Kind::ConvIm2col);
                let geometry = path.im2col_geometry().expect("an im2col path");
                let [n, c, h, w] = x.shape().dims();
                let k = weight.shape().dims::<4>()[0];
                let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
                let scale = contiguous(scale);
                let (y, [oh, ow]) = im2col::conv2d(
                    values(&x),
                    [n, c, h, w],
                    values(&weight),
                    k,
                    geometry,
                    channel_scale(&scale),
                    has_bias.then(|| values(&bias)),
                );
                FloatTensor::<Flex>::from_data(TensorData::new(y, [n, k, oh, ow]))
            }
        }
    }
}

/// The input gradient of [`FrozenConvBackend::frozen_conv2d`] for the output gradient `grad`.
fn frozen_conv2d_backward(
    grad: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    scale: FloatTensor<Flex>,
    path: FrozenPath,
) -> FloatTensor<Flex> {
    match path {
        FrozenPath::Winograd => {
            let _span = crate::profile::span(crate::profile::Kind::ConvWinogradGrad);
            let [n, k, h, w] = grad.shape().dims();
            let c = weight.shape().dims::<4>()[1];
            let (grad, weight, scale) = (contiguous(grad), contiguous(weight), contiguous(scale));
            let gx = winograd::conv3x3(
                values(&grad),
                [n, k, h, w],
                values(&weight),
                c,
                Kernels::InputGradient,
                None,
                Some(values(&scale)),
            );
            FloatTensor::<Flex>::from_data(TensorData::new(gx, [n, c, h, w]))
        }
        FrozenPath::Pointwise | FrozenPath::Im2col { .. } => {
            let _span = crate::profile::span(crate::profile::Kind::ConvIm2colGrad);
            let geometry = path.im2col_geometry().expect("an im2col path");
            let [n, k, oh, ow] = grad.shape().dims();
            let input = match path {
                FrozenPath::Im2col { input, .. } => input,
                _ => [oh, ow],
            };
            let c = weight.shape().dims::<4>()[1];
            let (grad, weight, scale) = (contiguous(grad), contiguous(weight), contiguous(scale));
            let gx = im2col::conv2d_input_gradient(
                values(&grad),
                [n, k, oh, ow],
                values(&weight),
                [c, input[0], input[1]],
                geometry,
                channel_scale(&scale),
            );
            FloatTensor::<Flex>::from_data(TensorData::new(gx, [n, c, input[0], input[1]]))
        }
    }
}

impl<C: CheckpointStrategy> FrozenConvBackend for Autodiff<Flex, C> {
    fn frozen_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        has_bias: bool,
        path: FrozenPath,
        shared: Option<SharedGradient>,
    ) -> FloatTensor<Self> {
        /// The backward step: state is the (frozen) weight, its scale, the path and the joined
        /// [`SharedGradient`], if any.
        #[derive(Debug)]
        struct FrozenConv;

        impl Backward<Flex, 1> for FrozenConv {
            type State = (
                FloatTensor<Flex>,
                FloatTensor<Flex>,
                FrozenPath,
                Option<SharedGradient>,
            );

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (weight, scale, path, shared) = ops.state;
                let grad = grads.consume::<Flex>(&ops.node);
                let [Some(input)] = ops.parents else {
                    return;
                };
                let gx = frozen_conv2d_backward(grad, weight, scale, path);
                match shared {
                    Some(shared) => shared.deliver(grads, input.id, gx),
                    None => grads.register::<Flex>(input.id, gx),
                }
            }
        }

        let (x, node) = x.into_parts();
        let weight = weight.into_primitive();
        let scale = scale.into_primitive();
        let bias = bias.into_primitive();
        match FrozenConv.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                if let Some(shared) = &shared {
                    shared.join();
                }
                let y = Flex::frozen_conv2d(
                    x,
                    weight.clone(),
                    scale.clone(),
                    bias,
                    has_bias,
                    path,
                    None,
                );
                prep.finish((weight, scale, path, shared), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::frozen_conv2d(
                x, weight, scale, bias, has_bias, path, None,
            )),
        }
    }
}

/// The per-channel scale for the im2col paths: `None` when it is all ones (no BatchNorm
/// folded in), which saves those paths a pass over the activation.
fn channel_scale(scale: &FloatTensor<Flex>) -> Option<&[f32]> {
    Some(values(scale)).filter(|s| s.iter().any(|&a| a != 1.0))
}

/// Whether the Winograd path is switched on (the default); see [`set_winograd`].
static WINOGRAD: AtomicBool = AtomicBool::new(true);

/// Whether the im2col path is switched on (the default); see [`set_im2col`].
static IM2COL: AtomicBool = AtomicBool::new(true);

/// Switches the im2col path of [`conv2d`] on or off for the whole process (off: flex's own
/// `conv2d` for the convolutions it would take; `bench_models --no-im2col`).
pub fn set_im2col(enabled: bool) {
    IM2COL.store(enabled, Ordering::Relaxed);
}

/// Switches the Winograd path of [`conv2d`] on or off for the whole process (off: burn's own
/// convolution everywhere; for benchmarks and comparisons, `bench_models --no-winograd`).
/// [`crate::gate_op::set_fused_ops`]`(false)` switches it off as well.
pub fn set_winograd(enabled: bool) {
    WINOGRAD.store(enabled, Ordering::Relaxed);
}

/// The path [`conv2d`] takes for `conv` on `x`, if any (otherwise burn's `Conv2d::forward`).
///
/// All paths need flex (with or without autodiff), `f32`, frozen parameters, no dilation,
/// one group, symmetric padding, and the fused operations switched on
/// ([`crate::gate_op::set_fused_ops`]). Then:
/// - [`FrozenPath::Winograd`] for 3×3 kernels with stride 1 and padding 1, at least 16
///   channels on both sides and enough output tiles ([`winograd::worthwhile`]), unless
///   switched off by [`set_winograd`];
/// - [`FrozenPath::Pointwise`] for 1×1 kernels with stride 1 and no padding;
/// - [`FrozenPath::Im2col`] for any other kernel with few output pixels per image or few
///   input channels ([`im2col::worthwhile`]).
pub fn frozen_path(conv: &Conv2d, x: &Tensor<4>) -> Option<FrozenPath> {
    let [n, c, h, w] = x.dims();
    let k = conv.weight.dims()[0];
    let common = fused_ops_enabled()
        && x.dtype() == DType::F32
        && x.device().inner() == Device::flex()
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && !conv.weight.is_require_grad()
        && conv.bias.as_ref().is_none_or(|b| !b.is_require_grad());
    if !common {
        return None;
    }
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        PaddingConfig2d::Explicit(..) => return None,
        PaddingConfig2d::Valid => [0, 0],
        // `Same` pads (k − 1)/2 on each side for odd kernels at stride 1.
        PaddingConfig2d::Same
            if conv.stride == [1, 1] && conv.kernel_size.iter().all(|s| s % 2 == 1) =>
        {
            conv.kernel_size.map(|s| (s - 1) / 2)
        }
        PaddingConfig2d::Same => return None,
    };
    let stride_1 = conv.stride == [1, 1];
    if stride_1
        && conv.kernel_size == [3, 3]
        && padding == [1, 1]
        && WINOGRAD.load(Ordering::Relaxed)
        && winograd::worthwhile(c, k, n * h.div_ceil(2) * w.div_ceil(2))
    {
        return Some(FrozenPath::Winograd);
    }
    if stride_1 && conv.kernel_size == [1, 1] && padding == [0, 0] {
        return Some(FrozenPath::Pointwise);
    }
    let geometry = im2col::Geometry {
        kernel: conv.kernel_size,
        stride: conv.stride,
        padding,
    };
    let [oh, ow] = geometry.output_size([h, w])?;
    let multiply_adds = k * c * conv.kernel_size[0] * conv.kernel_size[1] * oh * ow;
    (IM2COL.load(Ordering::Relaxed) && im2col::worthwhile(oh * ow, c, multiply_adds)).then_some(
        FrozenPath::Im2col {
            geometry,
            input: [h, w],
        },
    )
}

/// `conv.forward(x)`, as one frozen-convolution operation where [`frozen_path`] finds one.
///
/// # Shapes
/// - `x`: `[batch, channels_in, h, w]`; output as `conv.forward`.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let Some(path) = frozen_path(conv, &x) else {
        return conv.forward(x);
    };
    let device = x.device();
    let bias = conv.bias.as_ref().map(|b| b.val().to_device(&device));
    frozen_conv2d(conv, x, None, bias, path, None)
}

/// `bn(conv(x))` with `bn` in inference mode. On every frozen path ([`frozen_path`]) the
/// BatchNorm's per-channel map `y = a·z + b` folds into the operation: `a·bias + b` is the new
/// bias, and `a` scales the kernels as they are transformed (Winograd, forward and backward)
/// or the output while it is fresh in cache (Pointwise and Im2col; backward: the output
/// gradient, before the GEMM); this saves the BatchNorm's separate operations and passes over
/// the activation in both directions. Elsewhere (and for a BatchNorm in training mode on an
/// autodiff device) `batch_norm_inference(bn, conv2d(conv, x))`. (Folding by scaling the
/// weight tensor on every call was measured to cost more than it saved: docs/performance.md.)
/// Same values to float32 rounding (tests below).
///
/// # Shapes
/// - `x`: `[batch, channels_in, h, w]`; output as `conv.forward`.
pub fn conv2d_batch_norm(conv: &Conv2d, bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    conv2d_batch_norm_sharing(conv, bn, x, None)
}

/// [`conv2d_batch_norm`], sending `x`'s gradient through `shared` ([`SharedGradient`]: ResNet's
/// blocks sum it there with the shortcut's) where a frozen path applies.
///
/// # Shapes
/// - `x`: `[batch, channels_in, h, w]`; output as `conv.forward`.
pub fn conv2d_batch_norm_sharing(
    conv: &Conv2d,
    bn: &BatchNorm,
    x: Tensor<4>,
    shared: Option<&SharedGradient>,
) -> Tensor<4> {
    let device = x.device();
    match (frozen_path(conv, &x), inference_affine(bn, &device)) {
        (Some(path), Some((a, b))) => {
            let bias = match &conv.bias {
                Some(bias) => bias.val().to_device(&device) * a.clone() + b,
                None => b,
            };
            frozen_conv2d(conv, x, Some(a), Some(bias), path, shared)
        }
        _ => batch_norm_inference(bn, conv2d(conv, x)),
    }
}

/// The frozen-convolution operation on `x` with `conv`'s weight, these per-channel kernel
/// scales and this bias (untracked), `x`'s gradient through `shared` when `x` is tracked.
fn frozen_conv2d(
    conv: &Conv2d,
    x: Tensor<4>,
    scale: Option<Tensor<1>>,
    bias: Option<Tensor<1>>,
    path: FrozenPath,
    shared: Option<&SharedGradient>,
) -> Tensor<4> {
    let shared = shared.filter(|_| x.is_tracked()).cloned();
    let device = x.device();
    let weight = conv.weight.val().to_device(&device);
    let k = weight.dims()[0];
    let has_bias = bias.is_some();
    let bias = bias.unwrap_or_else(|| Tensor::zeros([k], &device));
    let scale = scale.unwrap_or_else(|| Tensor::ones([k], &device));
    Tensor::from_dispatch(<Dispatch as FrozenConvBackend>::frozen_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        scale.into_dispatch(),
        bias.into_dispatch(),
        has_bias,
        path,
        shared,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::testing::values as seeded;
    use burn::module::Module;
    use burn::nn::conv::Conv2dConfig;

    /// A frozen `k × k` convolution (stride 1, padding `(k − 1)/2`) with seeded weights.
    fn frozen_conv(c: usize, k: usize, size: usize, bias: bool, device: &Device) -> Conv2d {
        let p = (size - 1) / 2;
        let mut conv = Conv2dConfig::new([c, k], [size, size])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_bias(bias)
            .init(device);
        let w = seeded(k * c * size * size, 11);
        let w = Tensor::<4>::from_data(TensorData::new(w, [k, c, size, size]), device);
        conv.weight = conv.weight.map(|_| w);
        if bias {
            let b = Tensor::<1>::from_data(TensorData::new(seeded(k, 12), [k]), device);
            conv.bias = conv.bias.map(|p| p.map(|_| b));
        }
        conv.no_grad()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    }

    fn max_abs(a: &[f32]) -> f32 {
        a.iter().fold(0f32, |m, v| m.max(v.abs()))
    }

    /// The values of `conv2d(conv, x)` (`frozen`) or `conv.forward(x)`, and the gradient of
    /// `Σ y·g` with respect to `x`.
    fn value_and_input_gradient(
        conv: &Conv2d,
        x0: &Tensor<4>,
        g: &Tensor<4>,
        frozen: bool,
    ) -> (Vec<f32>, Vec<f32>) {
        let x = x0.clone().require_grad();
        let y = if frozen {
            conv2d(conv, x.clone())
        } else {
            conv.forward(x.clone())
        };
        let grads = (y.clone() * g.clone()).sum().backward();
        let gx = x.grad(&grads).expect("input gradient");
        (tensor_to_vec(y).unwrap(), tensor_to_vec(gx).unwrap())
    }

    /// Value and input gradient equal burn's `Conv2d` on flex (im2col, transposed convolution)
    /// on odd and even sizes, with and without bias, for both paths.
    #[test]
    fn matches_burn_convolution_and_its_input_gradient() {
        let device = BackendKind::Flex.autodiff_device();
        let cases = [
            (3, 2, 16, 24, 17, 16, true, FrozenPath::Winograd),
            (3, 5, 32, 16, 9, 11, false, FrozenPath::Winograd),
            (1, 2, 24, 8, 5, 7, false, FrozenPath::Pointwise),
            (1, 1, 8, 24, 4, 4, true, FrozenPath::Pointwise),
        ];
        for (size, n, c, k, h, w, bias, path) in cases {
            let conv = frozen_conv(c, k, size, bias, &device);
            let x0 = seeded(n * c * h * w, 13);
            let x0 = Tensor::<4>::from_data(TensorData::new(x0, [n, c, h, w]), &device);
            assert_eq!(
                frozen_path(&conv, &x0),
                Some(path),
                "{:?}",
                (size, n, c, k, h, w)
            );
            let g = seeded(n * k * h * w, 14);
            let g = Tensor::<4>::from_data(TensorData::new(g, [n, k, h, w]), &device);
            let (y_frozen, gx_frozen) = value_and_input_gradient(&conv, &x0, &g, true);
            let (y_burn, gx_burn) = value_and_input_gradient(&conv, &x0, &g, false);
            let what = format!("{path:?} {:?}", (n, c, k, h, w, bias));
            assert!(
                max_abs_diff(&y_frozen, &y_burn) <= 1e-5 * max_abs(&y_burn),
                "value, {what}"
            );
            assert!(
                max_abs_diff(&gx_frozen, &gx_burn) <= 1e-5 * max_abs(&gx_burn),
                "input gradient, {what}"
            );
        }
    }

    /// A BatchNorm in eval mode with non-trivial statistics and affine parameters.
    fn eval_batch_norm(c: usize, device: &Device) -> BatchNorm {
        use burn::nn::BatchNormConfig;
        let mut bn = BatchNormConfig::new(c).init(device);
        let vec = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [c]), device);
        bn.gamma = bn.gamma.map(|_| vec(seeded(c, 21)));
        bn.beta = bn.beta.map(|_| vec(seeded(c, 22)));
        bn.running_mean = burn::module::RunningState::new(vec(seeded(c, 23)));
        let var = seeded(c, 24).iter().map(|v| 0.2 + v.abs()).collect();
        bn.running_var = burn::module::RunningState::new(vec(var));
        bn.no_grad().valid()
    }

    /// ResNet's block pattern: `x` feeds a frozen convolution (BatchNorm folded) and the
    /// identity shortcut of a sum. With their two gradients for `x` meeting in a
    /// `SharedGradient`, `x`'s gradient equals autodiff's own sum of them bit for bit (one sum
    /// of two terms either way), on the pointwise and the Winograd path.
    #[test]
    fn shared_gradient_of_a_convolution_and_the_identity() {
        use crate::elementwise_op::{add_sharing, SharedGradient};
        let device = BackendKind::Flex.autodiff_device();
        let shape = [2, 64, 14, 14];
        let n = shape.iter().product();
        let x0 = Tensor::<4>::from_data(TensorData::new(seeded(n, 31), shape), &device);
        let g = Tensor::<4>::from_data(TensorData::new(seeded(n, 32), shape), &device);
        let bn = eval_batch_norm(64, &device);
        for (size, path) in [(1, FrozenPath::Pointwise), (3, FrozenPath::Winograd)] {
            let conv = frozen_conv(64, 64, size, false, &device);
            assert_eq!(frozen_path(&conv, &x0), Some(path), "{size}x{size}");
            let run = |share: bool| {
                let x = x0.clone().require_grad();
                let shared = SharedGradient::new();
                let y = conv2d_batch_norm_sharing(&conv, &bn, x.clone(), share.then_some(&shared));
                let sum = add_sharing(y, x.clone(), share.then_some(&shared));
                tensor_to_vec(x.grad(&(sum * g.clone()).sum().backward()).unwrap()).unwrap()
            };
            assert_eq!(run(true), run(false), "{size}x{size}");
        }
    }

    /// The folded convolution + BatchNorm equals the two applied one after the other (value
    /// and input gradient), on the three paths, with and without a convolution bias.
    #[test]
    fn batch_norm_folds_into_the_convolution() {
        let device = BackendKind::Flex.autodiff_device();
        for (size, bias) in [(3, true), (3, false), (1, false), (1, true), (7, false)] {
            // 3×3: the Winograd path; 1×1: Pointwise; 7×7 (at 24×23, over the 2²³
            // multiply-adds of `im2col::worthwhile`): Im2col.
            let (n, c, k, h, w) = (2, 16, 20, 24, 23);
            let conv = frozen_conv(c, k, size, bias, &device);
            let bn = eval_batch_norm(k, &device);
            let x0 = seeded(n * c * h * w, 25);
            let x0 = Tensor::<4>::from_data(TensorData::new(x0, [n, c, h, w]), &device);
            let expected = match size {
                3 => "Winograd",
                1 => "Pointwise",
                _ => "Im2col",
            };
            let path = frozen_path(&conv, &x0).expect("a frozen path");
            assert!(format!("{path:?}").starts_with(expected), "{path:?}");
            let g = seeded(n * k * h * w, 26);
            let g = Tensor::<4>::from_data(TensorData::new(g, [n, k, h, w]), &device);
            let run = |folded: bool| {
                let x = x0.clone().require_grad();
                let y = if folded {
                    conv2d_batch_norm(&conv, &bn, x.clone())
                } else {
                    batch_norm_inference(&bn, conv.forward(x.clone()))
                };
                let grads = (y.clone() * g.clone()).sum().backward();
                let gx = x.grad(&grads).expect("input gradient");
                (tensor_to_vec(y).unwrap(), tensor_to_vec(gx).unwrap())
            };
            let (y_folded, gx_folded) = run(true);
            let (y_apart, gx_apart) = run(false);
            assert!(
                max_abs_diff(&y_folded, &y_apart) <= 1e-5 * max_abs(&y_apart),
                "value, {size}×{size}, bias {bias}"
            );
            assert!(
                max_abs_diff(&gx_folded, &gx_apart) <= 1e-5 * max_abs(&gx_apart),
                "input gradient, {size}×{size}, bias {bias}"
            );
        }
    }

    /// A frozen convolution with any kernel, stride and (symmetric) padding.
    fn general_conv(
        c: usize,
        k: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        device: &Device,
    ) -> Conv2d {
        let p = padding;
        Conv2dConfig::new([c, k], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .init(device)
            .no_grad()
    }

    /// The im2col path (strided layers, kernels other than 1×1 and 3×3, convolutions too
    /// small for Winograd): value and input gradient equal burn's `Conv2d` on flex, on sizes
    /// where the strided windows leave input rows and columns unreached (the transposed
    /// convolution's output padding).
    #[test]
    fn im2col_path_matches_burn_convolution_and_its_input_gradient() {
        let device = BackendKind::Flex.autodiff_device();
        // (n, c, k, kernel, stride, padding, h, w), each above the 2²³ multiply-adds per
        // image of `im2col::worthwhile`.
        let cases = [
            (1, 64, 64, 3, 2, 1, 31, 30),
            (2, 16, 64, 7, 2, 3, 29, 28),
            (1, 256, 256, 1, 2, 0, 25, 24),
            (2, 8, 128, 3, 1, 1, 31, 30),
            (1, 32, 64, 5, 1, 2, 14, 13),
        ];
        for (n, c, k, kernel, stride, padding, h, w) in cases {
            let conv = general_conv(c, k, kernel, stride, padding, &device);
            let x0 = seeded(n * c * h * w, 15);
            let x0 = Tensor::<4>::from_data(TensorData::new(x0, [n, c, h, w]), &device);
            let what = format!("{:?}", (n, c, k, kernel, stride, padding, h, w));
            assert!(
                matches!(frozen_path(&conv, &x0), Some(FrozenPath::Im2col { .. })),
                "{what}"
            );
            let [_, _, oh, ow] = conv.forward(x0.clone()).dims();
            let g = seeded(n * k * oh * ow, 16);
            let g = Tensor::<4>::from_data(TensorData::new(g, [n, k, oh, ow]), &device);
            let (y_frozen, gx_frozen) = value_and_input_gradient(&conv, &x0, &g, true);
            let (y_burn, gx_burn) = value_and_input_gradient(&conv, &x0, &g, false);
            assert_eq!(y_frozen.len(), y_burn.len(), "{what}");
            assert_eq!(gx_frozen.len(), gx_burn.len(), "{what}");
            assert!(
                max_abs_diff(&y_frozen, &y_burn) <= 1e-5 * max_abs(&y_burn),
                "value, {what}"
            );
            assert!(
                max_abs_diff(&gx_frozen, &gx_burn) <= 1e-5 * max_abs(&gx_burn),
                "input gradient, {what}"
            );
        }
    }

    #[test]
    fn paths_follow_the_thresholds_and_switches() {
        let device = BackendKind::Flex.autodiff_device();
        let is_im2col = |p: Option<FrozenPath>| matches!(p, Some(FrozenPath::Im2col { .. }));
        let conv = frozen_conv(16, 16, 3, false, &device);
        let small = Tensor::<4>::zeros([1, 16, 8, 8], &device);
        assert_eq!(
            frozen_path(&conv, &small),
            None,
            "16 tiles < 32 for Winograd, 2¹⁷ multiply-adds < 2²³ for im2col"
        );
        let large = Tensor::<4>::zeros([1, 16, 32, 32], &device);
        assert_eq!(frozen_path(&conv, &large), Some(FrozenPath::Winograd));
        let wide = frozen_conv(128, 256, 3, false, &device);
        let few_tiles = Tensor::<4>::zeros([1, 128, 14, 14], &device);
        assert!(
            is_im2col(frozen_path(&wide, &few_tiles)),
            "49 tiles < 128 for 2¹⁵ pairs"
        );
        let more_tiles = Tensor::<4>::zeros([3, 128, 14, 14], &device);
        assert_eq!(frozen_path(&wide, &more_tiles), Some(FrozenPath::Winograd));
        let ndarray = Tensor::<4>::zeros([1, 16, 32, 32], &BackendKind::NdArray.device());
        assert_eq!(frozen_path(&conv, &ndarray), None, "flex only");
        let strided = general_conv(128, 256, 3, 2, 1, &device);
        let input_28 = Tensor::<4>::zeros([1, 128, 28, 28], &device);
        assert!(
            is_im2col(frozen_path(&strided, &input_28)),
            "stride 2, 14² outputs"
        );
        // More than 1024 output pixels per image: flex's own tiled convolution, unless the
        // input has at most 4 channels (RGB stems) and enough work.
        let larger = Tensor::<4>::zeros([1, 16, 48, 48], &device);
        let stem = general_conv(16, 16, 7, 1, 3, &device);
        assert_eq!(frozen_path(&stem, &larger), None, "7×7 at 48²");
        let rgb_stem = general_conv(3, 64, 7, 2, 3, &device);
        let image = Tensor::<4>::zeros([1, 3, 224, 224], &device);
        assert!(
            is_im2col(frozen_path(&rgb_stem, &image)),
            "RGB 7×7 stem at 224²"
        );
        let cifar = Tensor::<4>::zeros([1, 3, 32, 32], &device);
        let rgb_3x3 = general_conv(3, 16, 3, 1, 1, &device);
        assert_eq!(
            frozen_path(&rgb_3x3, &cifar),
            None,
            "442 368 multiply-adds < 2²³"
        );
        let trainable = Conv2dConfig::new([16, 16], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        assert_eq!(
            frozen_path(&trainable, &large),
            None,
            "weights that need a gradient"
        );
        let asymmetric = Conv2dConfig::new([128, 256], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 0, 1, 1))
            .init(&device)
            .no_grad();
        assert_eq!(
            frozen_path(&asymmetric, &few_tiles),
            None,
            "asymmetric padding"
        );
        set_winograd(false);
        let no_winograd = frozen_path(&conv, &larger);
        set_winograd(true);
        assert_eq!(no_winograd, None, "Winograd switched off");
        set_im2col(false);
        let no_im2col = frozen_path(&wide, &few_tiles);
        set_im2col(true);
        assert_eq!(no_im2col, None, "im2col switched off");
        crate::gate_op::set_fused_ops(false);
        let pointwise = frozen_path(&frozen_conv(16, 16, 1, false, &device), &large);
        crate::gate_op::set_fused_ops(true);
        assert_eq!(pointwise, None, "switched off with the fused operations");
    }
}
