//! Plain VGG-style CNN: blocks of `conv3×3 – [BN] – ReLU` units, a 2×2 max-pool after every
//! block but the last, then one linear head. No skip connections, so the network is the
//! chain `y_c^T G_L W_L … G_1 W_1 x` of Sec. 2.2 (with BN folded into the affine maps in
//! evaluation mode, and max-pools as gatings followed by sum-pools).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::gating::{apply_max_pool, apply_relu, gate_of, GateKind, GateLayer, GateMode, Gates};
use crate::backend::tensor_to_vec;
use crate::experiment_error::{ExperimentError, ExperimentResult};

/// Architecture of a [`PlainCnn`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlainCnnConfig {
    /// Input channels (1 for Fashion-MNIST, 3 for CIFAR-10).
    pub in_channels: usize,
    /// Input height = width.
    pub image_size: usize,
    /// Output channels of each block.
    pub channels: Vec<usize>,
    /// Conv units per block.
    pub convs_per_block: usize,
    /// Whether each conv is followed by BatchNorm.
    pub batch_norm: bool,
    /// Number of classes.
    pub num_classes: usize,
}

impl PlainCnnConfig {
    /// The small network used on Fashion-MNIST: blocks of 16, 32, 64 channels, one conv each.
    pub fn fashion_mnist(batch_norm: bool) -> Self {
        Self {
            in_channels: 1,
            image_size: 28,
            channels: vec![16, 32, 64],
            convs_per_block: 1,
            batch_norm,
            num_classes: 10,
        }
    }

    /// The CIFAR-10 variant: 32×32×3 input, blocks of 32, 64, 128 channels, two convs each.
    pub fn cifar10(batch_norm: bool) -> Self {
        Self {
            in_channels: 3,
            image_size: 32,
            channels: vec![32, 64, 128],
            convs_per_block: 2,
            batch_norm,
            num_classes: 10,
        }
    }

    /// Checks the sizes fit together.
    pub fn validate(&self) -> ExperimentResult<()> {
        let pools = self.channels.len().saturating_sub(1);
        if self.channels.is_empty()
            || self.convs_per_block == 0
            || self.in_channels == 0
            || self.num_classes == 0
        {
            return Err(ExperimentError::Config(format!("empty network: {self:?}")));
        }
        if self.image_size == 0 || !self.image_size.is_multiple_of(1 << pools) {
            return Err(ExperimentError::Config(format!(
                "image size {} is not divisible by 2^{pools} (one 2×2 pool after each of the first {pools} blocks)",
                self.image_size
            )));
        }
        Ok(())
    }

    /// Spatial size after the last block.
    pub fn final_size(&self) -> usize {
        self.image_size >> self.channels.len().saturating_sub(1)
    }

    /// Builds the network with parameters drawn from `device`'s generator (seed it first
    /// with `device.seed(..)` for a reproducible initialisation).
    pub fn init(&self, device: &Device) -> ExperimentResult<PlainCnn> {
        self.validate()?;
        let mut blocks = Vec::new();
        let mut c_in = self.in_channels;
        for &c_out in &self.channels {
            let mut convs = Vec::new();
            for _ in 0..self.convs_per_block {
                convs.push(ConvUnit {
                    conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device),
                    bn: self
                        .batch_norm
                        .then(|| BatchNormConfig::new(c_out).init(device)),
                });
                c_in = c_out;
            }
            blocks.push(Block { convs });
        }
        let s = self.final_size();
        let head = LinearConfig::new(c_in * s * s, self.num_classes).init(device);
        Ok(PlainCnn { blocks, head })
    }
}

/// `conv3×3 – [BN]`; the ReLU is applied by the network in its [`GateMode`].
#[derive(Module, Debug)]
pub struct ConvUnit {
    conv: Conv2d,
    bn: Option<BatchNorm>,
}

/// A block of conv units.
#[derive(Module, Debug)]
pub struct Block {
    convs: Vec<ConvUnit>,
}

/// The plain CNN.
#[derive(Module, Debug)]
pub struct PlainCnn {
    blocks: Vec<Block>,
    head: Linear,
}

/// What a forward pass returns besides the logits: everything the gate measurements need.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Logits, `[N, classes]`.
    pub logits: Tensor<2>,
    /// Per gate layer (forward order): for a ReLU, its pre-activation `z` (after BN); for a
    /// max-pool, its input. Each `[N, C, H, W]`.
    pub gate_inputs: Vec<Tensor<4>>,
    /// Per gate layer: name and kind.
    pub gate_names: Vec<(String, GateKind)>,
}

impl Trace {
    /// The binary gates `G(x)` of this pass (ReLU gates `[z > 0]`, max-pool arg-max masks).
    pub fn gates(&self) -> ExperimentResult<Gates> {
        let layers = self
            .gate_inputs
            .iter()
            .zip(&self.gate_names)
            .map(|(z, (name, kind))| {
                Ok(GateLayer {
                    name: name.clone(),
                    kind: *kind,
                    mask: gate_of(*kind, z)?,
                })
            })
            .collect::<ExperimentResult<_>>()?;
        Ok(Gates { layers })
    }
}

/// An MLP's parameters: per layer `(rows, cols, row-major W_ℓ)`, per layer `b_ℓ`, the head
/// `(C, d_L, row-major y)` and the head bias.
pub type MlpParameters = (
    Vec<(usize, usize, Vec<f32>)>,
    Vec<Vec<f32>>,
    (usize, usize, Vec<f32>),
    Vec<f32>,
);

impl PlainCnn {
    /// For a network on 1×1 images with a single block and no BatchNorm, which is an MLP
    /// (a padded 3×3 conv on a 1×1 input uses only its centre tap): its dense parameters.
    pub fn mlp_parameters(&self) -> ExperimentResult<MlpParameters> {
        if self.blocks.len() != 1 {
            return Err(ExperimentError::Config(format!(
                "{} blocks; an MLP view needs exactly one",
                self.blocks.len()
            )));
        }
        let (mut ws, mut bs) = (Vec::new(), Vec::new());
        for unit in &self.blocks[0].convs {
            if unit.bn.is_some() {
                return Err(ExperimentError::Config(
                    "an MLP view needs a network without BatchNorm".into(),
                ));
            }
            let w = unit.conv.weight.val();
            let [o, i, kh, kw] = w.dims();
            let centre = w
                .slice([0..o, 0..i, kh / 2..kh / 2 + 1, kw / 2..kw / 2 + 1])
                .reshape([o, i]);
            ws.push((o, i, tensor_to_vec(centre)?));
            bs.push(
                unit.conv
                    .bias
                    .as_ref()
                    .map(|b| tensor_to_vec(b.val()))
                    .transpose()?
                    .unwrap_or_else(|| vec![0.0; o]),
            );
        }
        // burn's Linear stores its weight as [d_in, d_out]; the paper's y is C × d_L.
        let hw = self.head.weight.val();
        let [d, c] = hw.dims();
        if d != ws.last().map(|w| w.0).unwrap_or(0) {
            return Err(ExperimentError::Config(format!(
                "head takes {d} inputs: the input is not 1×1"
            )));
        }
        let head = tensor_to_vec(hw.transpose())?;
        let hb = self
            .head
            .bias
            .as_ref()
            .map(|b| tensor_to_vec(b.val()))
            .transpose()?
            .unwrap_or_else(|| vec![0.0; c]);
        Ok((ws, bs, (c, d, head), hb))
    }

    /// Logits of the ordinary network.
    ///
    /// # Shapes
    /// `x`: `[N, C, H, W]` → `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_traced(x, GateMode::Relu)
            .map(|t| t.logits)
            .expect("Relu mode cannot fail")
    }

    /// Names and kinds of the gate layers, in forward order.
    pub fn gate_names(&self) -> Vec<(String, GateKind)> {
        let mut names = Vec::new();
        let last = self.blocks.len() - 1;
        for (b, block) in self.blocks.iter().enumerate() {
            for u in 0..block.convs.len() {
                names.push((format!("block{b}.conv{u}.relu"), GateKind::Relu));
            }
            if b < last {
                names.push((format!("block{b}.pool"), GateKind::MaxPool));
            }
        }
        names
    }

    /// Forward pass in `mode`, keeping every gate layer's input.
    ///
    /// # Shapes
    /// `x`: `[N, C, H, W]` → logits `[N, classes]`; in [`GateMode::Frozen`] the gates must
    /// have one mask per gate layer, each the shape of that layer's input for this `x`.
    pub fn forward_traced(&self, x: Tensor<4>, mode: GateMode<'_>) -> ExperimentResult<Trace> {
        let names = self.gate_names();
        mode.check_gate_count(names.len())?;
        let check = |k: usize, t: &Tensor<4>| -> ExperimentResult<()> {
            if let GateMode::Frozen(gates) = mode {
                if gates.layers[k].mask.dims() != t.dims() {
                    return Err(ExperimentError::Shape(format!(
                        "frozen gate `{}` has shape {:?}, the layer's input has {:?}",
                        names[k].0,
                        gates.layers[k].mask.dims(),
                        t.dims()
                    )));
                }
            }
            Ok(())
        };
        let mut gate_inputs = Vec::with_capacity(names.len());
        let mut k = 0;
        let mut h = x;
        let last = self.blocks.len() - 1;
        for (b, block) in self.blocks.iter().enumerate() {
            for unit in &block.convs {
                let mut z = unit.conv.forward(h);
                if let Some(bn) = &unit.bn {
                    z = bn.forward(z);
                }
                check(k, &z)?;
                gate_inputs.push(z.clone());
                h = apply_relu(z, mode, k)?;
                k += 1;
            }
            if b < last {
                check(k, &h)?;
                gate_inputs.push(h.clone());
                h = apply_max_pool(h, mode, k)?;
                k += 1;
            }
        }
        let logits = self.head.forward(h.flatten::<2>(1, 3));
        Ok(Trace {
            logits,
            gate_inputs,
            gate_names: names,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn input(n: usize, dev: &Device) -> Tensor<4> {
        Tensor::random([n, 1, 28, 28], Distribution::Uniform(-1.0, 1.0), dev)
    }

    #[test]
    fn shapes_and_gate_layers() {
        let dev = Device::flex();
        dev.seed(1);
        let net = PlainCnnConfig::fashion_mnist(true).init(&dev).unwrap();
        let tr = net.forward_traced(input(2, &dev), GateMode::Relu).unwrap();
        assert_eq!(tr.logits.dims(), [2, 10]);
        let names: Vec<String> = tr.gate_names.iter().map(|n| n.0.clone()).collect();
        assert_eq!(
            names,
            [
                "block0.conv0.relu",
                "block0.pool",
                "block1.conv0.relu",
                "block1.pool",
                "block2.conv0.relu"
            ]
        );
        assert_eq!(tr.gate_inputs[1].dims(), [2, 16, 28, 28]);
        assert_eq!(tr.gate_inputs[4].dims(), [2, 64, 7, 7]);
        assert!(PlainCnnConfig {
            image_size: 30,
            ..PlainCnnConfig::fashion_mnist(false)
        }
        .init(&dev)
        .is_err());
    }

    /// Freezing the gates to the network's own gates reproduces the network exactly
    /// (`f_{G̃} = f`, Eq. 15), and all three modes agree in the forward pass.
    #[test]
    fn own_frozen_gates_and_excitation_reproduce_forward() {
        let dev = Device::flex();
        dev.seed(2);
        for bn in [false, true] {
            let net = PlainCnnConfig::fashion_mnist(bn).init(&dev).unwrap();
            let x = input(3, &dev);
            let tr = net.forward_traced(x.clone(), GateMode::Relu).unwrap();
            let gates = tr.gates().unwrap();
            let fz = net
                .forward_traced(x.clone(), GateMode::Frozen(&gates))
                .unwrap()
                .logits;
            let ex = net
                .forward_traced(x, GateMode::Excitation { temperature: 0.3 })
                .unwrap()
                .logits;
            let a = tr.logits.into_data().try_to_vec::<f32>().unwrap();
            for other in [fz, ex] {
                let b = other.into_data().try_to_vec::<f32>().unwrap();
                for (p, q) in a.iter().zip(&b) {
                    assert!((p - q).abs() <= 1e-5 * (1.0 + p.abs()), "{p} vs {q}");
                }
            }
        }
    }

    #[test]
    fn wrong_frozen_gates_are_errors() {
        let dev = Device::flex();
        dev.seed(3);
        let net = PlainCnnConfig::fashion_mnist(false).init(&dev).unwrap();
        let gates = net
            .forward_traced(input(2, &dev), GateMode::Relu)
            .unwrap()
            .gates()
            .unwrap();
        // Gates of two images for a batch of three.
        let err = net
            .forward_traced(input(3, &dev), GateMode::Frozen(&gates))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("block0.conv0.relu") && err.contains("[2, 16, 28, 28]"),
            "{err}"
        );
        let few = Gates {
            layers: gates.layers[..2].to_vec(),
        };
        assert!(net
            .forward_traced(input(2, &dev), GateMode::Frozen(&few))
            .is_err());
        let _ = TensorData::new(vec![0f32], [1]);
    }
}
