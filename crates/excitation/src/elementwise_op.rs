//! The models' two element-wise operations besides the gates, as custom autodiff operations on
//! flex split over rayon's threads: ResNet's residual sum `a + b` and an eval-mode
//! BatchNorm's per-channel map `a_c·x + b_c` (DenseNet's `norm1` before each layer, its
//! transitions and `norm5`).
//!
//! flex runs an element-wise operation on the calling thread unless both operands have the
//! same shape and more than 4 M values (and always when one is broadcast, as a BatchNorm's
//! per-channel factors are); while it does, the other cores wait. On 2 cores that is a few per
//! cent of a DenseNet121 pullback; on 16 it is a larger share (docs/performance.md "Session
//! 10"). Here each operation is one pass over the values, in tasks of at least 2¹⁴ values on
//! rayon's threads, written into an operand's buffer when nothing else holds it; the
//! backward passes are the same kind of pass (`g·a_c` for the BatchNorm; the sum hands its
//! gradient to both operands unchanged).
//!
//! [`add`] and [`channel_affine`] are the models' entry points; on other devices or dtypes,
//! for shapes that differ, or with [`crate::gate_op::set_fused_ops`]`(false)` they are burn's
//! own tensor operations. Values equal those (the same one multiply and one add per value in
//! the same order); tests below.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

use crate::flex_values::{contiguous, values};
use crate::gate_op::fused_ops_enabled;
use crate::parallel::zeros;

/// Values per task: below this, handing work to another thread costs more than it saves.
const CHUNK: usize = 1 << 14;

/// Backends that run the models' element-wise operations as single parallel passes.
#[backend_extension(Autodiff, Flex)]
pub trait ElementwiseBackend: Backend {
    /// `a + b` for two `f32` tensors of one shape; under autodiff `b`'s gradient goes through
    /// `shared_b` when given.
    fn sum_of_two(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        shared_b: Option<SharedGradient>,
    ) -> FloatTensor<Self>;

    /// `scale[c]·x + shift[c]` along axis 1 of `x` (`[n, c, …]`, `f32`); under autodiff
    /// only `x` receives a gradient, through `shared` when given.
    fn channel_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        shared: Option<SharedGradient>,
    ) -> FloatTensor<Self>;

    /// `cat([a, b], 1)` for `f32` tensors `[n, c_a, …]` and `[n, c_b, …]` that agree on
    /// every other axis; under autodiff `a`'s gradient goes through `shared` when given.
    fn append_channels(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        shared: Option<SharedGradient>,
    ) -> FloatTensor<Self>;
}

/// Where the gradients that two operations send to one shared input meet, so that they are
/// summed in one parallel pass instead of by autodiff's own sum (flex's same-shape add, which
/// runs on the calling thread under 4 M values). DenseNet sums every concatenation's two
/// gradients, from the next layer's `norm1` and from the next append (about 48 M values per
/// DenseNet121 batch-5 pullback); ResNet every block input's, from its first convolution and
/// from the shortcut (about 28 M values per ResNet50 batch-5 pullback). The joining operations
/// are [`channel_affine_sharing`], [`append_channels_sharing`], [`add_sharing`] (for `b`) and
/// `conv_op::conv2d_batch_norm_sharing`.
///
/// Each operation given the same `SharedGradient` joins it when its forward pass is recorded
/// for autodiff (a tracked input on flex); in the backward pass each joined operation delivers
/// its gradient for the input, the first ones are parked, and the last adds them and registers
/// the sum once. An operation that does not join (another device, an untracked input) hands
/// its gradient to autodiff as usual, so the sum is right whichever operations take this path.
/// Every joined operation's backward step must run for the input's gradient to be registered:
/// true when both outputs lead to the differentiated value (DenseNet's blocks).
#[derive(Debug, Clone, Default)]
pub struct SharedGradient(Arc<Mutex<Meeting>>);

/// The state behind a [`SharedGradient`].
#[derive(Debug, Default)]
struct Meeting {
    /// Operations that joined.
    expected: usize,
    /// Gradients delivered so far.
    arrived: usize,
    /// Their sum so far.
    parked: Option<FloatTensor<Flex>>,
}

impl SharedGradient {
    /// A new meeting point, for one input and the operations that share it.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn join(&self) {
        self.0.lock().expect("shared gradient lock").expected += 1;
    }

    /// Delivers a joined operation's gradient `g` for the input `input`; the last one
    /// registers the sum.
    pub(crate) fn deliver(&self, grads: &mut Gradients, input: NodeId, g: FloatTensor<Flex>) {
        let mut meeting = self.0.lock().expect("shared gradient lock");
        meeting.arrived += 1;
        let sum = match meeting.parked.take() {
            Some(parked) => sum_in_place(g, parked),
            None => g,
        };
        if meeting.arrived < meeting.expected {
            meeting.parked = Some(sum);
        } else {
            grads.register::<Flex>(input, sum);
        }
    }
}

impl ElementwiseBackend for Flex {
    fn sum_of_two(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        _shared_b: Option<SharedGradient>,
    ) -> FloatTensor<Self> {
        let _span = crate::profile::span(crate::profile::Kind::Elementwise);
        sum_in_place(a, b)
    }

    fn channel_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        _shared: Option<SharedGradient>,
    ) -> FloatTensor<Self> {
        let _span = crate::profile::span(crate::profile::Kind::Elementwise);
        let (scale, shift) = (contiguous(scale), contiguous(shift));
        let (scale, shift) = (values(&scale), values(&shift));
        map_planes(x, |c, plane| {
            let (a, b) = (scale[c], shift[c]);
            plane.iter_mut().for_each(|v| *v = *v * a + b);
        })
    }

    fn append_channels(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        _shared: Option<SharedGradient>,
    ) -> FloatTensor<Self> {
        let _span = crate::profile::span(crate::profile::Kind::Elementwise);
        let (a, b) = (contiguous(a), contiguous(b));
        let mut dims = a.shape().to_vec();
        let (c_a, c_b) = (dims[1], b.shape().to_vec()[1]);
        let plane: usize = dims[2..].iter().product();
        dims[1] = c_a + c_b;
        let (a_values, b_values) = (values(&a), values(&b));
        // One output plane per (image, channel): a's channels, then b's, image by image.
        let mut out = zeros(dims.iter().product());
        out.par_chunks_mut(plane.max(1))
            .with_min_len(CHUNK.div_ceil(plane.max(1)))
            .enumerate()
            .for_each(|(i, o)| {
                let (n, c) = (i / (c_a + c_b), i % (c_a + c_b));
                let from = if c < c_a {
                    &a_values[(n * c_a + c) * plane..][..plane]
                } else {
                    &b_values[(n * c_b + c - c_a) * plane..][..plane]
                };
                o.copy_from_slice(from);
            });
        FloatTensor::<Flex>::from_data(TensorData::new(out, dims))
    }
}

/// `a + b` for two `f32` tensors of one shape, in parallel, into whichever operand nothing
/// else holds (addition commutes), else into a new buffer.
fn sum_in_place(a: FloatTensor<Flex>, b: FloatTensor<Flex>) -> FloatTensor<Flex> {
    let (mut a, mut b) = (contiguous(a), contiguous(b));
    let add = |out: &mut [f32], other: &[f32]| {
        out.par_chunks_mut(CHUNK)
            .zip(other.par_chunks(CHUNK))
            .for_each(|(o, x)| o.iter_mut().zip(x).for_each(|(o, x)| *o += x));
    };
    // Write into whichever operand is ours alone (addition commutes), else a new buffer.
    if let Some(out) = writable(&mut a) {
        add(out, values(&b));
        return a;
    }
    if let Some(out) = writable(&mut b) {
        add(out, values(&a));
        return b;
    }
    let mut sum = crate::parallel::copied(values(&a));
    add(&mut sum, values(&b));
    FloatTensor::<Flex>::from_data(TensorData::new(sum, a.shape()))
}

/// The two parts of `grad` (`[n, c_a + c_b, …]`) along axis 1: channels `..c_a` and
/// `c_a..`, each copied out in parallel (the backward pass of
/// [`ElementwiseBackend::append_channels`]).
fn split_channels(grad: FloatTensor<Flex>, c_a: usize) -> [FloatTensor<Flex>; 2] {
    let grad = contiguous(grad);
    let dims = grad.shape().to_vec();
    let (c, plane) = (dims[1], dims[2..].iter().product::<usize>().max(1));
    let g = values(&grad);
    let part = |range: std::ops::Range<usize>| {
        let width = range.len();
        let mut out = zeros(dims[0] * width * plane);
        out.par_chunks_mut(plane)
            .with_min_len(CHUNK.div_ceil(plane))
            .enumerate()
            .for_each(|(i, o)| {
                let (n, k) = (i / width, i % width);
                o.copy_from_slice(&g[(n * c + range.start + k) * plane..][..plane]);
            });
        let mut shape = dims.clone();
        shape[1] = width;
        FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
    };
    [part(0..c_a), part(c_a..c)]
}

impl<C: CheckpointStrategy> ElementwiseBackend for Autodiff<Flex, C> {
    fn sum_of_two(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        shared_b: Option<SharedGradient>,
    ) -> FloatTensor<Self> {
        /// The backward step: both operands receive the output's gradient (`b` through the
        /// joined [`SharedGradient`], if any).
        #[derive(Debug)]
        struct SumOfTwo;

        impl Backward<Flex, 2> for SumOfTwo {
            type State = Option<SharedGradient>;

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let _span = crate::profile::span(crate::profile::Kind::ElementwiseGrad);
                let grad = grads.consume::<Flex>(&ops.node);
                let [node_a, node_b] = ops.parents;
                if let Some(node) = node_a {
                    grads.register::<Flex>(node.id, grad.clone());
                }
                if let Some(node) = node_b {
                    match ops.state {
                        Some(shared) => shared.deliver(grads, node.id, grad),
                        None => grads.register::<Flex>(node.id, grad),
                    }
                }
            }
        }

        let (a, node_a) = a.into_parts();
        let (b, node_b) = b.into_parts();
        match SumOfTwo
            .prepare::<C>([node_a, node_b])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                if let Some(shared) = &shared_b {
                    shared.join();
                }
                prep.finish(shared_b, Flex::sum_of_two(a, b, None))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::sum_of_two(a, b, None)),
        }
    }

    fn channel_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        shared: Option<SharedGradient>,
    ) -> FloatTensor<Self> {
        /// The backward step: state is the (frozen) per-channel scale and the joined
        /// [`SharedGradient`], if any.
        #[derive(Debug)]
        struct ChannelAffine;

        impl Backward<Flex, 1> for ChannelAffine {
            type State = (FloatTensor<Flex>, Option<SharedGradient>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let _span = crate::profile::span(crate::profile::Kind::ElementwiseGrad);
                let (scale, shared) = ops.state;
                let grad = grads.consume::<Flex>(&ops.node);
                let [Some(input)] = ops.parents else {
                    return;
                };
                let scale = contiguous(scale);
                let scale = values(&scale);
                let gx = map_planes(grad, |c, plane| {
                    let a = scale[c];
                    plane.iter_mut().for_each(|g| *g *= a);
                });
                match shared {
                    Some(shared) => shared.deliver(grads, input.id, gx),
                    None => grads.register::<Flex>(input.id, gx),
                }
            }
        }

        let (x, node) = x.into_parts();
        let scale = scale.into_primitive();
        let shift = shift.into_primitive();
        match ChannelAffine
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                if let Some(shared) = &shared {
                    shared.join();
                }
                let y = Flex::channel_affine(x, scale.clone(), shift, None);
                prep.finish((scale, shared), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::channel_affine(x, scale, shift, None)),
        }
    }

    fn append_channels(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        shared: Option<SharedGradient>,
    ) -> FloatTensor<Self> {
        /// The backward step: state is the number of `a`'s channels and the joined
        /// [`SharedGradient`] for `a`, if any.
        #[derive(Debug)]
        struct AppendChannels;

        impl Backward<Flex, 2> for AppendChannels {
            type State = (usize, Option<SharedGradient>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let _span = crate::profile::span(crate::profile::Kind::ElementwiseGrad);
                let (c_a, shared) = ops.state;
                let grad = grads.consume::<Flex>(&ops.node);
                let [node_a, node_b] = ops.parents;
                let [grad_a, grad_b] = split_channels(grad, c_a);
                if let Some(node) = node_a {
                    match shared {
                        Some(shared) => shared.deliver(grads, node.id, grad_a),
                        None => grads.register::<Flex>(node.id, grad_a),
                    }
                }
                if let Some(node) = node_b {
                    grads.register::<Flex>(node.id, grad_b);
                }
            }
        }

        let (a, node_a) = a.into_parts();
        let (b, node_b) = b.into_parts();
        let c_a = a.shape().to_vec()[1];
        match AppendChannels
            .prepare::<C>([node_a, node_b])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                if let Some(shared) = &shared {
                    shared.join();
                }
                prep.finish((c_a, shared), Flex::append_channels(a, b, None))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::append_channels(a, b, None)),
        }
    }
}

/// Applies `f(channel, plane)` to every `(image, channel)` plane of `t` (`[n, c, …]`) in
/// parallel, in `t`'s own buffer when nothing else holds it, else in a copy.
fn map_planes(t: FloatTensor<Flex>, f: impl Fn(usize, &mut [f32]) + Sync) -> FloatTensor<Flex> {
    let mut t = contiguous(t);
    let shape = t.shape();
    let dims = shape.to_vec();
    let channels = dims[1];
    let plane: usize = dims[2..].iter().product();
    let run = |values: &mut [f32]| {
        values
            .par_chunks_mut(plane.max(1))
            .with_min_len(CHUNK.div_ceil(plane.max(1)))
            .enumerate()
            .for_each(|(i, p)| f(i % channels, p));
    };
    if let Some(values) = writable(&mut t) {
        run(values);
        return t;
    }
    let mut copy = crate::parallel::copied(values(&t));
    run(&mut copy);
    FloatTensor::<Flex>::from_data(TensorData::new(copy, shape))
}

/// The values of `t` to write in place: where its buffer holds exactly its values, from the
/// start, and nothing else holds the buffer.
fn writable(t: &mut FloatTensor<Flex>) -> Option<&mut [f32]> {
    let n = t.shape().num_elements();
    let plain = t.layout().contiguous_offsets() == Some((0, n)) && t.storage::<f32>().len() == n;
    if plain {
        t.try_storage_mut::<f32>()
    } else {
        None
    }
}

/// Whether the parallel operations apply to a tensor like `x` (flex with or without
/// autodiff, `f32`, the fused operations switched on).
fn applies<const D: usize>(x: &Tensor<D>) -> bool {
    fused_ops_enabled() && x.dtype() == DType::F32 && x.device().inner() == Device::flex()
}

/// `a + b`, as one parallel pass on flex for two `f32` tensors of one shape; elsewhere burn's
/// `a + b` (which also broadcasts).
pub fn add<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    add_sharing(a, b, None)
}

/// [`add`], sending `b`'s gradient through `shared_b` (see [`SharedGradient`]) where the
/// parallel operation applies: ResNet's identity shortcut, whose input also feeds the block's
/// first convolution.
pub fn add_sharing<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
    shared_b: Option<&SharedGradient>,
) -> Tensor<D> {
    if !(applies(&a) && b.dtype() == DType::F32 && a.dims() == b.dims()) {
        return a + b;
    }
    let b_tracked = b.is_tracked();
    Tensor::from_dispatch(<Dispatch as ElementwiseBackend>::sum_of_two(
        a.into_dispatch(),
        b.into_dispatch(),
        shared_b.filter(|_| b_tracked).cloned(),
    ))
}

/// `scale[c]·x + shift[c]` along axis 1 of `x`, as one parallel pass on flex for `f32`
/// (`scale` and `shift` untracked: frozen parameters); elsewhere burn's broadcast `x·a + b`.
///
/// # Shapes
/// - `x`: `[n, c, …]` (at least 2 axes); `scale`, `shift`: `[c]`; output as `x`.
pub fn channel_affine<const D: usize>(
    x: Tensor<D>,
    scale: Tensor<1>,
    shift: Tensor<1>,
) -> Tensor<D> {
    channel_affine_sharing(x, scale, shift, None)
}

/// [`channel_affine`], sending `x`'s gradient through `shared` (see [`SharedGradient`]) where
/// the parallel operation applies.
///
/// # Shapes
/// - `x`: `[n, c, …]` (at least 2 axes); `scale`, `shift`: `[c]`; output as `x`.
pub fn channel_affine_sharing<const D: usize>(
    x: Tensor<D>,
    scale: Tensor<1>,
    shift: Tensor<1>,
    shared: Option<&SharedGradient>,
) -> Tensor<D> {
    if !applies(&x) || D < 2 {
        let mut shape = [1; D];
        shape[1.min(D - 1)] = scale.dims()[0];
        return x * scale.reshape(shape) + shift.reshape(shape);
    }
    let x_tracked = x.is_tracked();
    Tensor::from_dispatch(<Dispatch as ElementwiseBackend>::channel_affine(
        x.into_dispatch(),
        scale.into_dispatch(),
        shift.into_dispatch(),
        // Only a tracked input has a gradient to share.
        shared.filter(|_| x_tracked).cloned(),
    ))
}

/// `Tensor::cat(vec![a, b], 1)`, as one parallel copy on flex for `f32` (and its backward
/// pass one parallel split); elsewhere burn's `cat`. DenseNet's blocks grow their input
/// by one layer's output at a time with it.
///
/// # Shapes
/// - `a`: `[n, c_a, …]`, `b`: `[n, c_b, …]` (equal on every axis but 1); output
///   `[n, c_a + c_b, …]`.
pub fn append_channels<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    append_channels_sharing(a, b, None)
}

/// [`append_channels`], sending `a`'s gradient through `shared` (see [`SharedGradient`])
/// where the parallel operation applies.
///
/// # Shapes
/// - `a`: `[n, c_a, …]`, `b`: `[n, c_b, …]` (equal on every axis but 1); output
///   `[n, c_a + c_b, …]`.
pub fn append_channels_sharing<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
    shared: Option<&SharedGradient>,
) -> Tensor<D> {
    let (da, db) = (a.dims(), b.dims());
    let agree = D >= 2 && (0..D).all(|i| i == 1 || da[i] == db[i]);
    if !(applies(&a) && b.dtype() == DType::F32 && agree) {
        return Tensor::cat(vec![a, b], 1);
    }
    let a_tracked = a.is_tracked();
    Tensor::from_dispatch(<Dispatch as ElementwiseBackend>::append_channels(
        a.into_dispatch(),
        b.into_dispatch(),
        shared.filter(|_| a_tracked).cloned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::testing::values as seeded;

    fn tensor<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
        let n = shape.iter().product();
        Tensor::from_data(TensorData::new(seeded(n, seed), shape), device)
    }

    /// Value and input gradients equal burn's `a + b`, also when one operand is shared (held
    /// elsewhere, so not written in place) and for sizes on both sides of one task.
    #[test]
    fn add_matches_burn_and_passes_the_gradient_to_both() {
        let device = BackendKind::Flex.autodiff_device();
        for shape in [[2, 3, 4, 5], [2, 64, 17, 19], [2, 64, 33, 33]] {
            let a0 = tensor(shape, 1, &device);
            let b0 = tensor(shape, 2, &device);
            let g = tensor(shape, 3, &device);
            let run = |parallel: bool| {
                let (a, b) = (a0.clone().require_grad(), b0.clone().require_grad());
                let y = if parallel {
                    add(a.clone(), b.clone())
                } else {
                    a.clone() + b.clone()
                };
                let grads = (y.clone() * g.clone()).sum().backward();
                (
                    tensor_to_vec(y).unwrap(),
                    tensor_to_vec(a.grad(&grads).unwrap()).unwrap(),
                    tensor_to_vec(b.grad(&grads).unwrap()).unwrap(),
                )
            };
            assert_eq!(run(true), run(false), "{shape:?}");
            // Operands that nothing else holds are written in place: same values.
            let plain = BackendKind::Flex.device();
            let (a, b) = (tensor(shape, 1, &plain), tensor(shape, 2, &plain));
            let want = tensor_to_vec(a.clone() + b.clone()).unwrap();
            assert_eq!(tensor_to_vec(add(a, b)).unwrap(), want);
            // The operands are still intact after an add that had to copy.
            let (a, b) = (tensor(shape, 1, &plain), tensor(shape, 2, &plain));
            let _ = add(a.clone(), b.clone());
            assert_eq!(tensor_to_vec(a).unwrap(), seeded(shape.iter().product(), 1));
        }
    }

    /// Value and input gradient equal burn's broadcast `x·a + b` for 4-axis and 2-axis
    /// inputs, on planes smaller and larger than one task.
    #[test]
    fn channel_affine_matches_burn_broadcast() {
        let device = BackendKind::Flex.autodiff_device();
        let check = |x0: Tensor<4>| {
            let c = x0.dims()[1];
            let a = tensor([c], 4, &device);
            let b = tensor([c], 5, &device);
            let g = tensor(x0.dims(), 6, &device);
            let run = |parallel: bool| {
                let x = x0.clone().require_grad();
                let y = if parallel {
                    channel_affine(x.clone(), a.clone(), b.clone())
                } else {
                    x.clone() * a.clone().reshape([1, c, 1, 1]) + b.clone().reshape([1, c, 1, 1])
                };
                let grads = (y.clone() * g.clone()).sum().backward();
                (
                    tensor_to_vec(y).unwrap(),
                    tensor_to_vec(x.grad(&grads).unwrap()).unwrap(),
                )
            };
            assert_eq!(run(true), run(false), "{:?}", x0.dims());
        };
        check(tensor([2, 3, 5, 7], 7, &device));
        check(tensor([3, 40, 30, 30], 8, &device));
        // A non-contiguous input (a permuted view) gives the same values.
        check(tensor([2, 5, 6, 3], 9, &device).permute([0, 3, 1, 2]));
        // Two axes: one value per channel.
        let x = tensor([4, 6], 10, &device);
        let (a, b) = (tensor([6], 11, &device), tensor([6], 12, &device));
        let want = x.clone() * a.clone().reshape([1, 6]) + b.clone().reshape([1, 6]);
        assert_eq!(
            tensor_to_vec(channel_affine(x, a, b)).unwrap(),
            tensor_to_vec(want).unwrap()
        );
    }

    /// An input that feeds a `channel_affine` and an `append_channels` (DenseNet's
    /// concatenation) gets the same gradient whether their gradients meet in a
    /// `SharedGradient` or in autodiff's own sum: with both operations joined (bit for bit:
    /// one sum of two terms either way), with one joined and the other not, and with three
    /// joined (two maps and the append; within rounding of the order of the sum).
    #[test]
    fn shared_gradients_sum_as_autodiff_does() {
        let device = BackendKind::Flex.autodiff_device();
        let shape = [2, 6, 9, 11];
        let x0 = tensor(shape, 21, &device);
        let extra = tensor([2, 3, 9, 11], 22, &device);
        let (a, b) = (tensor([6], 23, &device), tensor([6], 24, &device));
        let (g1, g2) = (tensor(shape, 25, &device), tensor(shape, 26, &device));
        let g3 = tensor([2, 9, 9, 11], 27, &device);
        // Which of (first map, second map, append) send their gradient through the meeting.
        let run = |sharing: [bool; 3], second_map: bool| {
            let x = x0.clone().require_grad();
            let shared = SharedGradient::new();
            let via = |on: bool| on.then_some(&shared);
            let y1 = channel_affine_sharing(x.clone(), a.clone(), b.clone(), via(sharing[0]));
            let mut loss = (y1 * g1.clone()).sum();
            if second_map {
                let y2 = channel_affine_sharing(x.clone(), b.clone(), a.clone(), via(sharing[1]));
                loss = loss + (y2 * g2.clone()).sum();
            }
            let cat = append_channels_sharing(x.clone(), extra.clone(), via(sharing[2]));
            loss = loss + (cat * g3.clone()).sum();
            tensor_to_vec(x.grad(&loss.backward()).unwrap()).unwrap()
        };
        let autodiff = run([false; 3], false);
        assert_eq!(run([true, false, true], false), autodiff, "both joined");
        assert_eq!(run([true, false, false], false), autodiff, "map joined");
        assert_eq!(run([false, false, true], false), autodiff, "append joined");
        let autodiff = run([false; 3], true);
        for (got, want) in run([true; 3], true).iter().zip(&autodiff) {
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
        // Untracked inputs share nothing and give the plain values.
        let plain = BackendKind::Flex.device();
        let (a, b) = (a.to_device(&plain), b.to_device(&plain));
        let x = tensor(shape, 21, &plain);
        let shared = SharedGradient::new();
        let y = channel_affine_sharing(x.clone(), a.clone(), b.clone(), Some(&shared));
        let want = channel_affine(x, a, b);
        assert_eq!(tensor_to_vec(y).unwrap(), tensor_to_vec(want).unwrap());
    }

    /// Value and both input gradients equal burn's `cat` along the channels, for planes
    /// smaller and larger than one task and a non-contiguous operand.
    #[test]
    fn append_channels_matches_burn_cat() {
        let device = BackendKind::Flex.autodiff_device();
        let check = |a0: Tensor<4>, b0: Tensor<4>| {
            let mut out = a0.dims();
            out[1] += b0.dims()[1];
            let g = tensor(out, 13, &device);
            let run = |parallel: bool| {
                let (a, b) = (a0.clone().require_grad(), b0.clone().require_grad());
                let y = if parallel {
                    append_channels(a.clone(), b.clone())
                } else {
                    Tensor::cat(vec![a.clone(), b.clone()], 1)
                };
                let grads = (y.clone() * g.clone()).sum().backward();
                (
                    tensor_to_vec(y).unwrap(),
                    tensor_to_vec(a.grad(&grads).unwrap()).unwrap(),
                    tensor_to_vec(b.grad(&grads).unwrap()).unwrap(),
                )
            };
            assert_eq!(run(true), run(false), "{:?} + {:?}", a0.dims(), b0.dims());
        };
        check(
            tensor([2, 3, 4, 5], 14, &device),
            tensor([2, 2, 4, 5], 15, &device),
        );
        check(
            tensor([3, 64, 20, 20], 16, &device),
            tensor([3, 32, 20, 20], 17, &device),
        );
        check(
            tensor([2, 4, 6, 3], 18, &device).permute([0, 3, 1, 2]),
            tensor([2, 5, 4, 6], 19, &device),
        );
    }
}
