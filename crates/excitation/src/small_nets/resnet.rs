//! A CIFAR-scale ResNet (He et al. 2016, the CIFAR variant of Sec. 4.2 of their paper): a
//! 3×3 stem convolution with BatchNorm and ReLU (no max-pool, no stride), stages of
//! torchvision `BasicBlock`s (the [`crate::resnet::BasicBlock`] module itself, so the same
//! parameter names) whose widths double and whose first block halves the resolution from the
//! second stage on, global average pooling, one linear head.
//!
//! With skip connections the network is no longer the chain `y_cᵀ G_L W_L … G_1 W_1 x` of
//! Sec. 2.2: a path may skip a block, so the path tensor is not an outer product over layers.
//! The gates are still those of every ReLU application (`stem.relu`, and per block `relu1`
//! after the first convolution and `relu2` after the residual sum), and freezing them still
//! defines the π-induced network `f_π` (every ReLU multiplies its input by a fixed mask, so
//! `f_π` is linear in the input for fixed gates), so gate agreement, Hypothesis 1 and
//! frozen-gate retraining carry over; the rank-1 tensor correlations and the product kernels
//! of Eq. 23 do not, and are not computed for it.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::gating::{apply_relu, GateKind, GateMode};
use super::plain_cnn::Trace;
use crate::experiment_error::{ExperimentError, ExperimentResult};
use crate::gate::GradientMode;
use crate::relu::GatedRelu;
use crate::resnet::{BasicBlock, DownsampleLayer};

/// Architecture of a [`SmallResNet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmallResNetConfig {
    /// Input channels (1 for Fashion-MNIST, 3 for CIFAR-10).
    pub in_channels: usize,
    /// Input height = width.
    pub image_size: usize,
    /// Channels of the stem and the first stage; stage `i` has `base_width · 2^i`.
    pub base_width: usize,
    /// Basic blocks in each stage (`[3, 3, 3]` is He et al.'s ResNet-20).
    pub blocks_per_stage: Vec<usize>,
    /// Number of classes.
    pub num_classes: usize,
}

impl SmallResNetConfig {
    /// The Fashion-MNIST network: 28×28×1, base width 16, one block in each of three stages
    /// (28², 14², 7²): seven 3×3 convolutions and two 1×1 projections, 77 754 trainable
    /// parameters (the plain Fashion-MNIST CNN has 55k).
    pub fn fashion_mnist() -> Self {
        Self {
            in_channels: 1,
            image_size: 28,
            base_width: 16,
            blocks_per_stage: vec![1, 1, 1],
            num_classes: 10,
        }
    }

    /// He et al.'s CIFAR ResNet-20: 32×32×3, base width 16, three blocks per stage.
    pub fn cifar10() -> Self {
        Self {
            in_channels: 3,
            image_size: 32,
            base_width: 16,
            blocks_per_stage: vec![3, 3, 3],
            num_classes: 10,
        }
    }

    /// Checks the sizes fit together.
    pub fn validate(&self) -> ExperimentResult<()> {
        if self.in_channels == 0
            || self.image_size == 0
            || self.base_width == 0
            || self.num_classes == 0
            || self.blocks_per_stage.is_empty()
            || self.blocks_per_stage.contains(&0)
        {
            return Err(ExperimentError::Config(format!("empty ResNet: {self:?}")));
        }
        Ok(())
    }

    /// Builds the network (training mode; parameters from `device`'s generator, seed it
    /// first for a reproducible initialisation).
    pub fn init(&self, device: &Device) -> ExperimentResult<SmallResNet> {
        self.validate()?;
        let w = self.base_width;
        let mut inplanes = w;
        let mut stages = Vec::with_capacity(self.blocks_per_stage.len());
        for (i, &n) in self.blocks_per_stage.iter().enumerate() {
            let planes = w << i;
            let mut blocks = Vec::with_capacity(n);
            for j in 0..n {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                blocks.push(basic_block(inplanes, planes, stride, device));
                inplanes = planes;
            }
            stages.push(blocks);
        }
        Ok(SmallResNet {
            conv1: conv(self.in_channels, w, 3, 1, 1, device),
            bn1: BatchNormConfig::new(w).init(device),
            stages,
            fc: LinearConfig::new(inplanes, self.num_classes).init(device),
        })
    }
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, pad: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

fn basic_block(inplanes: usize, planes: usize, stride: usize, device: &Device) -> BasicBlock {
    let downsample = (stride != 1 || inplanes != planes).then(|| {
        vec![
            DownsampleLayer::Conv(conv(inplanes, planes, 1, stride, 0, device)),
            DownsampleLayer::Norm(BatchNormConfig::new(planes).init(device)),
        ]
    });
    BasicBlock {
        conv1: conv(inplanes, planes, 3, stride, 1, device),
        bn1: BatchNormConfig::new(planes).init(device),
        // The block's own ReLU module is not used: the small network applies its gates in
        // the mode of each forward pass (see `forward_traced`).
        relu: GatedRelu::new(GradientMode::Vanilla),
        conv2: conv(planes, planes, 3, 1, 1, device),
        bn2: BatchNormConfig::new(planes).init(device),
        downsample,
    }
}

/// The small ResNet.
#[derive(Module, Debug)]
pub struct SmallResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    stages: Vec<Vec<BasicBlock>>,
    fc: Linear,
}

impl SmallResNet {
    /// Names and kinds of the gate layers (every ReLU application), in forward order.
    pub fn gate_names(&self) -> Vec<(String, GateKind)> {
        let mut names = vec![("stem.relu".to_string(), GateKind::Relu)];
        for (i, stage) in self.stages.iter().enumerate() {
            for j in 0..stage.len() {
                for r in ["relu1", "relu2"] {
                    names.push((format!("layer{}.{j}.{r}", i + 1), GateKind::Relu));
                }
            }
        }
        names
    }

    /// Forward pass in `mode`, keeping every gate layer's input (the pre-activation after
    /// BatchNorm, or after the residual sum for `relu2`).
    ///
    /// # Shapes
    /// `x`: `[N, C, H, W]` → logits `[N, classes]`; in [`GateMode::Frozen`] one mask per
    /// gate layer, each the shape of that layer's input for this `x`.
    pub fn forward_traced(&self, x: Tensor<4>, mode: GateMode<'_>) -> ExperimentResult<Trace> {
        let names = self.gate_names();
        mode.check_gate_count(names.len())?;
        let mut gate_inputs = Vec::with_capacity(names.len());
        let mut gate = |z: Tensor<4>| -> ExperimentResult<Tensor<4>> {
            let k = gate_inputs.len();
            gate_inputs.push(z.clone());
            apply_relu(z, mode, k)
        };
        let mut h = gate(self.bn1.forward(self.conv1.forward(x)))?;
        for block in self.stages.iter().flatten() {
            let identity = match &block.downsample {
                None => h.clone(),
                Some(layers) => layers.iter().fold(h.clone(), |t, l| match l {
                    DownsampleLayer::Conv(c) => c.forward(t),
                    DownsampleLayer::Norm(n) => n.forward(t),
                }),
            };
            let out = gate(block.bn1.forward(block.conv1.forward(h)))?;
            h = gate(block.bn2.forward(block.conv2.forward(out)) + identity)?;
        }
        let pooled = h.mean_dim(3).mean_dim(2).flatten::<2>(1, 3);
        Ok(Trace {
            logits: self.fc.forward(pooled),
            gate_inputs,
            gate_names: names,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn tiny() -> SmallResNetConfig {
        SmallResNetConfig {
            in_channels: 1,
            image_size: 8,
            base_width: 4,
            blocks_per_stage: vec![1, 2],
            num_classes: 10,
        }
    }

    #[test]
    fn shapes_gate_layers_and_parameter_names() {
        let dev = Device::flex();
        dev.seed(1);
        let net = SmallResNetConfig::fashion_mnist().init(&dev).unwrap();
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Uniform(-1.0, 1.0), &dev);
        let tr = net.forward_traced(x, GateMode::Relu).unwrap();
        assert_eq!(tr.logits.dims(), [2, 10]);
        let names: Vec<&str> = tr.gate_names.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "stem.relu",
                "layer1.0.relu1",
                "layer1.0.relu2",
                "layer2.0.relu1",
                "layer2.0.relu2",
                "layer3.0.relu1",
                "layer3.0.relu2"
            ]
        );
        assert_eq!(tr.gate_inputs[2].dims(), [2, 16, 28, 28]);
        assert_eq!(tr.gate_inputs[6].dims(), [2, 64, 7, 7]);
        // 77 754 trainable parameters; burn also counts the 672 BatchNorm running statistics.
        assert_eq!(net.num_params(), 77_754 + 672);
        let keys: Vec<String> = burn::store::ModuleSnapshot::collect(&net, None, None, false)
            .into_iter()
            .map(|t| t.name.clone())
            .collect();
        for k in [
            "conv1.weight",
            "bn1.running_var",
            "stages.0.0.conv1.weight",
            "stages.1.0.downsample.0.Conv.weight",
            "stages.2.0.bn2.gamma",
            "fc.weight",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} not in {keys:?}");
        }
        let mut bad = tiny();
        bad.blocks_per_stage = vec![1, 0];
        assert!(bad.init(&dev).is_err());
    }

    /// The network's own gates frozen reproduce it exactly; excitation mode has the same
    /// forward; a skip connection carries the input past frozen-closed gates.
    #[test]
    fn own_frozen_gates_and_excitation_reproduce_forward() {
        let dev = Device::flex();
        dev.seed(2);
        let net = tiny().init(&dev).unwrap();
        let x = Tensor::<4>::random([3, 1, 8, 8], Distribution::Uniform(-1.0, 1.0), &dev);
        let tr = net.forward_traced(x.clone(), GateMode::Relu).unwrap();
        let gates = tr.gates().unwrap();
        let fz = net
            .forward_traced(x.clone(), GateMode::Frozen(&gates))
            .unwrap()
            .logits;
        let ex = net
            .forward_traced(x.clone(), GateMode::Excitation { temperature: 0.3 })
            .unwrap()
            .logits;
        let a = tr.logits.into_data().try_to_vec::<f32>().unwrap();
        for other in [fz, ex] {
            let b = other.into_data().try_to_vec::<f32>().unwrap();
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() <= 1e-5 * (1.0 + p.abs()), "{p} vs {q}");
            }
        }
        // With the gates frozen, f_π is affine in the input, skip connections included:
        // f_π(a·x + (1 − a)·x') = a·f_π(x) + (1 − a)·f_π(x') for any fixed masks.
        let x2 = Tensor::<4>::random([3, 1, 8, 8], Distribution::Uniform(-1.0, 1.0), &dev);
        let f = |x: Tensor<4>| {
            net.forward_traced(x, GateMode::Frozen(&gates))
                .unwrap()
                .logits
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let (f1, f2, fm) = (
            f(x.clone()),
            f(x2.clone()),
            f(x.clone() * 0.3 + x2.clone() * 0.7),
        );
        for i in 0..f1.len() {
            let want = 0.3 * f1[i] + 0.7 * f2[i];
            assert!(
                (fm[i] - want).abs() <= 1e-4 * (1.0 + want.abs()),
                "{} vs {want}",
                fm[i]
            );
        }
        // The ordinary network is not affine (its gates move with the input).
        let g = |x: Tensor<4>| {
            net.forward_traced(x, GateMode::Relu)
                .unwrap()
                .logits
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let (g1, g2, gm) = (g(x.clone()), g(x2.clone()), g(x.clone() * 0.3 + x2 * 0.7));
        let off = (0..g1.len())
            .map(|i| (gm[i] - 0.3 * g1[i] - 0.7 * g2[i]).abs())
            .fold(0.0f32, f32::max);
        assert!(off > 1e-3, "ReLU network unexpectedly affine: {off}");
        let few = crate::small_nets::Gates {
            layers: gates.layers[..2].to_vec(),
        };
        assert!(net.forward_traced(x, GateMode::Frozen(&few)).is_err());
    }
}
