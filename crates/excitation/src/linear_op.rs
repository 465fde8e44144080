//! Frozen linear layers applied to one row (a batch of one image) as one custom autodiff
//! operation on flex, split over rayon's threads.
//!
//! A classifier's linear layer on a batch of one is a matrix–vector product, bound by reading
//! the weight from memory: VGG11_BN's three layers hold 123 M weights (495 MB), ResNet50's and
//! DenseNet121's one 2 M and 1 M. flex multiplies through the `gemm` crate, whose
//! matrix–vector path runs on the calling thread whatever parallelism it is given, so with one
//! row the whole weight is streamed by one core, once in the forward pass and again for the
//! input gradient. On the 16-core host of docs/performance.md "Session 10" that made VGG11_BN's
//! batch-1 forward 2.7× PyTorch's time.
//!
//! Here, for a frozen layer (no parameter gradients) and a single row, the forward
//! `y = x·W + b` and the input gradient `g·Wᵀ` are both split over blocks of `W`'s rows (burn
//! stores `W` as `[d_in, d_out]`, so a block is contiguous in memory), each block on one of
//! rayon's threads, so all cores stream the weight. Registered with burn's autodiff as one operation that keeps only the
//! weight for the backward pass. [`linear`] is the models' entry point; with more than one row
//! (where `gemm` splits its own work), on other devices or dtypes, with trainable weights, or
//! with [`crate::gate_op::set_fused_ops`]`(false)`, it calls burn's `Linear::forward`. Values and
//! gradients equal burn's to float32 rounding (tests below).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::nn::Linear;
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::flex_values::{contiguous, values};
use crate::gate_op::fused_ops_enabled;

/// Backends that run a frozen linear layer on one row as one operation.
#[backend_extension(Autodiff, Flex)]
pub trait FrozenLinearBackend: Backend {
    /// `x·weight + bias` for `x` of shape `[1, d_in]` and `weight` `[d_in, d_out]`; under
    /// autodiff only `x` receives a gradient. (`bias` is a tensor of zeros for a layer
    /// without one, `has_bias` false: the extension macro does not take optional tensors.)
    fn frozen_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        has_bias: bool,
    ) -> FloatTensor<Self>;
}

impl FrozenLinearBackend for Flex {
    fn frozen_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        has_bias: bool,
    ) -> FloatTensor<Self> {
        let _span = crate::profile::span(crate::profile::Kind::Linear);
        let [d_in, d_out] = weight.shape().dims();
        let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
        let y = row_times_matrix(
            values(&x),
            values(&weight),
            [d_in, d_out],
            has_bias.then(|| values(&bias)),
        );
        FloatTensor::<Flex>::from_data(TensorData::new(y, [1, d_out]))
    }
}

impl<C: CheckpointStrategy> FrozenLinearBackend for Autodiff<Flex, C> {
    fn frozen_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        has_bias: bool,
    ) -> FloatTensor<Self> {
        /// The backward step: state is the (frozen) weight.
        #[derive(Debug)]
        struct FrozenLinear;

        impl Backward<Flex, 1> for FrozenLinear {
            type State = FloatTensor<Flex>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let weight = ops.state;
                unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
                    let _span = crate::profile::span(crate::profile::Kind::LinearGrad);
                    let [d_in, d_out] = weight.shape().dims();
                    let (grad, weight) = (contiguous(grad), contiguous(weight));
                    let gx = matrix_times_row(values(&weight), values(&grad), [d_in, d_out]);
                    FloatTensor::<Flex>::from_data(TensorData::new(gx, [1, d_in]))
                });
            }
        }

        let (x, node) = x.into_parts();
        let weight = weight.into_primitive();
        let bias = bias.into_primitive();
        match FrozenLinear.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(
                weight.clone(),
                Flex::frozen_linear(x, weight, bias, has_bias),
            ),
            OpsKind::UnTracked(prep) => prep.finish(Flex::frozen_linear(x, weight, bias, has_bias)),
        }
    }
}

/// Whether [`linear`] takes the split path for `layer` on `x`: flex (with or without autodiff),
/// `f32`, one row, a frozen weight and bias, and the fused operations switched on.
pub fn takes_frozen_path(layer: &Linear, x: &Tensor<2>) -> bool {
    fused_ops_enabled()
        && x.dims()[0] == 1
        && x.dtype() == DType::F32
        && x.device().inner() == Device::flex()
        && !layer.weight.is_require_grad()
        && layer.bias.as_ref().is_none_or(|b| !b.is_require_grad())
}

/// `layer.forward(x)`, as one frozen-linear operation split over the threads where
/// [`takes_frozen_path`] holds.
///
/// # Shapes
/// - `x`: `[batch, d_in]`; output: `[batch, d_out]`.
pub fn linear(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    if !takes_frozen_path(layer, &x) {
        return layer.forward(x);
    }
    let device = x.device();
    let weight = layer.weight.val().to_device(&device);
    let d_out = weight.dims()[1];
    let bias = layer.bias.as_ref().map(|b| b.val().to_device(&device));
    let has_bias = bias.is_some();
    let bias = bias.unwrap_or_else(|| Tensor::zeros([d_out], &device));
    Tensor::from_dispatch(<Dispatch as FrozenLinearBackend>::frozen_linear(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        has_bias,
    ))
}

/// Rows of the weight per task: enough tasks for every thread to get a few (so that uneven
/// progress evens out), at least 64 rows per task (so that a task's share is worth handing to
/// the pool).
fn block_len(n: usize) -> usize {
    let tasks = 4 * rayon::current_num_threads();
    n.div_ceil(tasks).max(64)
}

/// `x·W + bias` for one row `x` (`d_in`) and `W` (`d_in × d_out`, row-major): each task
/// takes a block of the weight's rows (contiguous in memory) and sums them, weighted by `x`,
/// into its own partial output; the partial outputs are then added in block order (so the
/// result does not depend on which thread ran which block).
///
/// # Panics
/// If a slice length does not match the shape.
pub fn row_times_matrix(
    x: &[f32],
    weight: &[f32],
    [d_in, d_out]: [usize; 2],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    assert!(
        x.len() == d_in && weight.len() == d_in * d_out && bias.is_none_or(|b| b.len() == d_out),
        "linear: operand lengths"
    );
    let block = block_len(d_in);
    let partials: Vec<Vec<f32>> = weight
        .par_chunks(block * d_out)
        .zip(x.par_chunks(block))
        .map(|(rows, xs)| weighted_row_sum(rows, xs, d_out))
        .collect();
    let mut y = match bias {
        Some(b) => b.to_vec(),
        None => vec![0.0; d_out],
    };
    for partial in &partials {
        for (o, p) in y.iter_mut().zip(partial) {
            *o += p;
        }
    }
    y
}

/// `Σ_i xs[i]·rows[i]` over the rows (each `d_out` long) of `rows`, four rows per pass over
/// the sum (a quarter of the loads and stores of the sum that one row per pass would take).
fn weighted_row_sum(rows: &[f32], xs: &[f32], d_out: usize) -> Vec<f32> {
    let mut sum = vec![0f32; d_out];
    let quads = rows.chunks_exact(4 * d_out).zip(xs.chunks_exact(4));
    for (quad, x) in quads {
        let (r0, rest) = quad.split_at(d_out);
        let (r1, rest) = rest.split_at(d_out);
        let (r2, r3) = rest.split_at(d_out);
        let terms = sum.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3);
        for ((((s, a), b), c), d) in terms {
            *s += x[0] * a + x[1] * b + x[2] * c + x[3] * d;
        }
    }
    let done = xs.len() / 4 * 4;
    for (row, &xi) in rows[done * d_out..].chunks_exact(d_out).zip(&xs[done..]) {
        for (s, w) in sum.iter_mut().zip(row) {
            *s += xi * w;
        }
    }
    sum
}

/// `W·g` (the input gradient `g·Wᵀ` of [`row_times_matrix`]) for `W` (`d_in × d_out`,
/// row-major) and one row `g` (`d_out`): each task computes a block of the result, one dot
/// product per weight row.
///
/// # Panics
/// If a slice length does not match the shape.
pub fn matrix_times_row(weight: &[f32], g: &[f32], [d_in, d_out]: [usize; 2]) -> Vec<f32> {
    assert!(
        g.len() == d_out && weight.len() == d_in * d_out,
        "linear: operand lengths"
    );
    let mut gx = vec![0.0; d_in];
    let block = block_len(d_in);
    gx.par_chunks_mut(block).enumerate().for_each(|(b, out)| {
        let rows = weight[b * block * d_out..].chunks_exact(d_out);
        for (o, row) in out.iter_mut().zip(rows) {
            *o = dot(row, g);
        }
    });
    gx
}

/// `Σ a_i b_i` with eight partial sums, which the compiler keeps in vector registers (a single
/// running sum would be a serial chain of additions).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut sums = [0f32; LANES];
    let (a8, b8) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..LANES {
            sums[l] += x[l] * y[l];
        }
    }
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::testing::values as seeded;
    use burn::module::Module;
    use burn::nn::LinearConfig;

    /// A frozen `d_in → d_out` layer with seeded weights.
    fn frozen_linear(d_in: usize, d_out: usize, bias: bool, device: &Device) -> Linear {
        let mut layer = LinearConfig::new(d_in, d_out).with_bias(bias).init(device);
        let w = Tensor::<2>::from_data(
            TensorData::new(seeded(d_in * d_out, 21), [d_in, d_out]),
            device,
        );
        layer.weight = layer.weight.map(|_| w);
        if bias {
            let b = Tensor::<1>::from_data(TensorData::new(seeded(d_out, 22), [d_out]), device);
            layer.bias = layer.bias.map(|p| p.map(|_| b));
        }
        layer.no_grad()
    }

    /// The values of `linear(layer, x)` (`split`) or `layer.forward(x)`, and the gradient of
    /// `Σ y·g` with respect to `x`.
    fn value_and_input_gradient(
        layer: &Linear,
        x0: &Tensor<2>,
        g: &Tensor<2>,
        split: bool,
    ) -> (Vec<f32>, Vec<f32>) {
        let x = x0.clone().require_grad();
        let y = if split {
            linear(layer, x.clone())
        } else {
            layer.forward(x.clone())
        };
        let grads = (y.clone() * g.clone()).sum().backward();
        let gx = x.grad(&grads).expect("input gradient");
        (tensor_to_vec(y).unwrap(), tensor_to_vec(gx).unwrap())
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    }

    fn max_abs(a: &[f32]) -> f32 {
        a.iter().fold(0f32, |m, v| m.max(v.abs()))
    }

    /// Value and input gradient equal burn's `Linear` on flex, with and without bias, for
    /// sizes that are and are not multiples of the block length, on a pool of 3 threads (so
    /// that blocks are split unevenly).
    #[test]
    fn matches_burn_linear_and_its_input_gradient() {
        let device = BackendKind::Flex.autodiff_device();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (d_in, d_out) in [(7, 5), (300, 1000), (1031, 130)] {
            for bias in [true, false] {
                let layer = frozen_linear(d_in, d_out, bias, &device);
                let x =
                    Tensor::<2>::from_data(TensorData::new(seeded(d_in, 23), [1, d_in]), &device);
                let g =
                    Tensor::<2>::from_data(TensorData::new(seeded(d_out, 24), [1, d_out]), &device);
                assert!(takes_frozen_path(&layer, &x));
                let (y, gx) = pool.install(|| value_and_input_gradient(&layer, &x, &g, true));
                let (y0, gx0) = value_and_input_gradient(&layer, &x, &g, false);
                let what = format!("{d_in} → {d_out}, bias {bias}");
                assert!(
                    max_abs_diff(&y, &y0) <= 1e-5 * max_abs(&y0),
                    "value, {what}: {}",
                    max_abs_diff(&y, &y0)
                );
                assert!(
                    max_abs_diff(&gx, &gx0) <= 1e-5 * max_abs(&gx0),
                    "input gradient, {what}: {}",
                    max_abs_diff(&gx, &gx0)
                );
            }
        }
    }

    /// The kernels against sums written out in f64 (no burn involved), including a row
    /// length that leaves a remainder after the eight partial sums.
    #[test]
    fn kernels_match_f64_sums() {
        let (d_in, d_out) = (203, 77);
        let w = seeded(d_in * d_out, 31);
        let x = seeded(d_in, 32);
        let g = seeded(d_out, 33);
        let b = seeded(d_out, 34);
        let y = row_times_matrix(&x, &w, [d_in, d_out], Some(&b));
        let gx = matrix_times_row(&w, &g, [d_in, d_out]);
        for j in 0..d_out {
            let want = b[j] as f64
                + (0..d_in)
                    .map(|i| x[i] as f64 * w[i * d_out + j] as f64)
                    .sum::<f64>();
            assert!((y[j] as f64 - want).abs() < 1e-5, "y[{j}]");
        }
        for i in 0..d_in {
            let want: f64 = (0..d_out)
                .map(|j| w[i * d_out + j] as f64 * g[j] as f64)
                .sum();
            assert!((gx[i] as f64 - want).abs() < 1e-5, "gx[{i}]");
        }
    }

    /// The split path is taken only where it applies: more than one row, a trainable weight,
    /// the fused operations switched off, or another backend go to burn's `Linear::forward`.
    #[test]
    fn takes_the_split_path_only_where_it_applies() {
        let device = BackendKind::Flex.autodiff_device();
        let layer = frozen_linear(16, 8, true, &device);
        let one = Tensor::<2>::zeros([1, 16], &device);
        let two = Tensor::<2>::zeros([2, 16], &device);
        assert!(takes_frozen_path(&layer, &one));
        assert!(!takes_frozen_path(&layer, &two));
        let trainable = LinearConfig::new(16, 8).init(&device);
        assert!(!takes_frozen_path(&trainable, &one));
        let nd = BackendKind::NdArray.device();
        let layer_nd = frozen_linear(16, 8, true, &nd);
        assert!(!takes_frozen_path(
            &layer_nd,
            &Tensor::<2>::zeros([1, 16], &nd)
        ));
        // Two rows through `linear` still give burn's values.
        let x = Tensor::<2>::from_data(TensorData::new(seeded(32, 35), [2, 16]), &device);
        let got = tensor_to_vec(linear(&layer, x.clone())).unwrap();
        let want = tensor_to_vec(layer.forward(x)).unwrap();
        assert_eq!(got, want);
    }
}
