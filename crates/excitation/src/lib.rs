//! Excitation pullbacks for full CNNs in burn.
//!
//! Γ-gated layers (paper Listings 1–2), torchvision models (ResNet, VGG, DenseNet) with their
//! weights, pullbacks (Eq. 6) and the paper's projected gradient ascent.
//!
//! # Public API
//! - [`backend::BackendKind`] (`Flex` default, `NdArray`, `Wgpu` with the `wgpu` feature):
//!   `device()`, `autodiff_device()`, `try_device()`, `parse()`; [`backend::tensor_to_vec`];
//!   [`backend::join_rayon_pool`] (call first in `main`: the main thread works in rayon's pool);
//!   [`awake::set_enabled`] and [`awake::keep_workers_awake`] (rayon's idle workers look for
//!   jobs through each pass instead of sleeping).
//! - [`gate::Sigma`] (`Sigmoid`, `NormalCdf`, `Softsign`; `eval`, `gate`),
//!   [`gate::GradientMode`] (`Vanilla`, `Excitation { sigma, temperature }`; `paper()`,
//!   `excitation()`), [`gate::Gated`] (`visit_gates`, `set_gradient_mode`,
//!   `set_gradient_modes_with`, `gradient_modes`): per-layer modes by torchvision module name.
//! - Layers: [`relu::GatedRelu`] / [`relu::gated_relu`], [`max_pool::GatedMaxPool2d`]
//!   (config [`max_pool::GatedMaxPool2dConfig`]), [`max_pool::soft_max_pool2d`],
//!   [`max_pool::hard_max_pool2d`].
//! - Models ([`classifier::Classifier`]: `forward` on images in [−1, 1], `forward_imagenet`,
//!   `num_classes`): [`resnet::ResNetConfig`] → [`resnet::ResNet`] (`resnet50()`),
//!   [`vgg::VggConfig`] → [`vgg::Vgg`] (`vgg11_bn()`), [`densenet::DenseNetConfig`] →
//!   [`densenet::DenseNet`] (`densenet121()`), each with a `tiny` preset for tests. Models are
//!   built in eval mode, frozen.
//! - Weights: [`weights::load_weights`], [`weights::save_safetensors`],
//!   [`weights::state_dict`], [`weights::expected_shapes`], [`weights::read_tensors`].
//! - Frozen operations on flex that the models call: [`conv_op::conv2d`],
//!   [`conv_op::conv2d_batch_norm`], [`linear_op::linear`], [`elementwise_op::add`],
//!   [`elementwise_op::channel_affine`], [`elementwise_op::append_channels`].
//! - [`pullback::pullback`], [`pullback::vanilla_gradient`], [`pullback::excitation_pullback`],
//!   [`pullback::pullbacks`] with [`pullback::Targets`].
//! - [`ascent::ascent`], [`ascent::ascent_step`] with [`ascent::AscentConfig`].
//! - [`profile::set_enabled`], [`profile::take`]: wall-clock totals per kind of this crate's
//!   operations (`bench_models --profile`).
//! - [`zoo::ModelKind`] (`ResNet50`, `Vgg11Bn`, `DenseNet121`; `parse`, `weights_url`, `init`)
//!   and [`zoo::AnyModel`]: the paper's models chosen at run time.

pub mod ascent;
pub mod awake;
pub mod backend;
pub mod batch_norm;
pub mod classifier;
pub mod conv_op;
pub mod data;
pub mod densenet;
pub mod download;
pub mod elementwise_op;
pub mod error;
pub mod experiment_error;
mod flex_values;
pub mod gate;
pub mod gate_op;
pub mod im2col;
pub mod imagenet;
pub mod linear_op;
pub mod max_pool;
pub mod normalize;
mod parallel;
pub mod pool_op;
pub mod profile;
pub mod pullback;
pub mod relu;
pub mod resnet;
pub mod small_nets;
pub mod stability;
/// Deterministic synthetic weights and images shared with the PyTorch reference.
pub mod synthetic;
pub mod train;
pub mod vgg;
pub mod weights;
pub mod winograd;
pub mod zoo;

#[cfg(any(test, feature = "testing"))]
pub mod loopback;
pub use error::{Error, Result};
#[cfg(test)]
pub(crate) mod testing;
