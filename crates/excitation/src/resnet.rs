//! ResNet (He et al. 2016) in torchvision's exact layout, every ReLU and the stem max-pool gated
//! (paper Sec. 5: ResNet50 experiments; Listings 1–2 applied by module replacement).
//!
//! Module names, and so state-dict keys, are torchvision's:
//! `conv1 bn1 relu maxpool layer1..layer4 avgpool fc`, blocks `layerK.J.{conv1,bn1,conv2,bn2,
//! conv3,bn3,relu,downsample.0,downsample.1}`. One `relu` module per block is applied after
//! each convolution and after the residual sum, as in torchvision (so it is gated three times).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{module::adaptive_avg_pool2d, Device, Tensor};

use crate::backend::ensure_fits;
use crate::batch_norm::batch_norm_inference;
use crate::classifier::Classifier;
use crate::conv_op::{conv2d, conv2d_batch_norm, conv2d_batch_norm_sharing};
use crate::elementwise_op::{self, SharedGradient};
use crate::error::{Error, Result};
use crate::gate::{join, Gated, GradientMode};
use crate::linear_op;
use crate::max_pool::{GatedMaxPool2d, GatedMaxPool2dConfig};
use crate::normalize::from_signed_unit_to_imagenet;
use crate::relu::GatedRelu;

/// Residual block type (torchvision's `BasicBlock` or `Bottleneck`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Two 3×3 convolutions, expansion 1 (ResNet18/34).
    Basic,
    /// 1×1, 3×3, 1×1 convolutions, expansion 4 (ResNet50/101/152).
    Bottleneck,
}

impl BlockKind {
    /// Output channels per `planes`.
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// torchvision's `ResNet(block, layers, num_classes)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetConfig {
    /// Block type.
    pub block: BlockKind,
    /// Blocks per stage (`[3, 4, 6, 3]` for ResNet50).
    pub layers: [usize; 4],
    /// Number of classes (1000 for ImageNet).
    pub num_classes: usize,
    /// Channels of the stem and of stage 1; stages 2–4 double it. torchvision fixes 64;
    /// smaller values give tiny variants with the same structure and key names.
    pub base_width: usize,
}

impl ResNetConfig {
    /// A configuration with torchvision's widths.
    pub fn new(block: BlockKind, layers: [usize; 4], num_classes: usize) -> Self {
        Self {
            block,
            layers,
            num_classes,
            base_width: 64,
        }
    }

    /// torchvision's `resnet50()`: Bottleneck, [3, 4, 6, 3], 1000 classes.
    pub fn resnet50() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 6, 3], 1000)
    }

    /// torchvision's `resnet18()`: BasicBlock, [2, 2, 2, 2], 1000 classes.
    pub fn resnet18() -> Self {
        Self::new(BlockKind::Basic, [2, 2, 2, 2], 1000)
    }

    /// A tiny variant for tests: `block`, one block per stage, base width 8, 10 classes.
    pub fn tiny(block: BlockKind) -> Self {
        Self {
            block,
            layers: [1, 1, 1, 1],
            num_classes: 10,
            base_width: 8,
        }
    }

    /// Sets the base width.
    pub fn with_base_width(mut self, base_width: usize) -> Self {
        self.base_width = base_width;
        self
    }

    /// Builds the network on `device` in eval mode (BatchNorm on running statistics, parameters
    /// frozen), every gated layer following `mode`. Parameters are burn's default
    /// initialisation until weights are loaded.
    pub fn init(&self, device: &Device, mode: GradientMode) -> Result<ResNet> {
        let mode = mode.validate()?;
        if self.num_classes == 0 || self.base_width == 0 || self.layers.contains(&0) {
            return Err(Error::Config(format!(
                "ResNet needs num_classes, base_width and every stage's block count > 0, got {self:?}"
            )));
        }
        let w = self.base_width;
        let mut inplanes = w;
        let mut stages = Vec::with_capacity(4);
        for (i, &n) in self.layers.iter().enumerate() {
            let planes = w << i;
            let stride = if i == 0 { 1 } else { 2 };
            let mut blocks = Vec::with_capacity(n);
            for j in 0..n {
                let s = if j == 0 { stride } else { 1 };
                blocks.push(Block::new(self.block, inplanes, planes, s, device, mode));
                inplanes = planes * self.block.expansion();
            }
            stages.push(blocks);
        }
        ensure_fits(device, "fc.weight", &[self.num_classes, inplanes])?;
        let mut stages = stages.into_iter();
        let model = ResNet {
            conv1: conv(3, w, 7, 2, 3, device),
            bn1: BatchNormConfig::new(w).init(device),
            relu: GatedRelu::new(mode),
            maxpool: GatedMaxPool2dConfig::new(3)
                .with_stride(2)
                .with_padding(1)
                .init(mode),
            layer1: stages.next().unwrap_or_default(),
            layer2: stages.next().unwrap_or_default(),
            layer3: stages.next().unwrap_or_default(),
            layer4: stages.next().unwrap_or_default(),
            fc: LinearConfig::new(inplanes, self.num_classes).init(device),
            num_classes: self.num_classes,
        };
        Ok(model.freeze())
    }
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, pad: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// One layer of a `downsample` `Sequential` (index 0 the 1×1 convolution, 1 the BatchNorm).
#[derive(Module, Debug)]
pub enum DownsampleLayer {
    /// `downsample.0`.
    Conv(Conv2d),
    /// `downsample.1`.
    Norm(BatchNorm),
}

/// torchvision's `BasicBlock` (and, with `conv3`/`bn3`, `Bottleneck`).
// Variants hold their module by value, as burn's `Module` derive expects; the ~1 KB
// difference per block is irrelevant next to the tensors.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Block {
    /// `BasicBlock`.
    Basic(BasicBlock),
    /// `Bottleneck`.
    Bottleneck(Bottleneck),
}

impl Block {
    fn new(
        kind: BlockKind,
        inplanes: usize,
        planes: usize,
        stride: usize,
        device: &Device,
        mode: GradientMode,
    ) -> Self {
        let out = planes * kind.expansion();
        let downsample = (stride != 1 || inplanes != out).then(|| {
            vec![
                DownsampleLayer::Conv(conv(inplanes, out, 1, stride, 0, device)),
                DownsampleLayer::Norm(BatchNormConfig::new(out).init(device)),
            ]
        });
        match kind {
            BlockKind::Basic => Block::Basic(BasicBlock {
                conv1: conv(inplanes, planes, 3, stride, 1, device),
                bn1: BatchNormConfig::new(planes).init(device),
                relu: GatedRelu::new(mode),
                conv2: conv(planes, planes, 3, 1, 1, device),
                bn2: BatchNormConfig::new(planes).init(device),
                downsample,
            }),
            BlockKind::Bottleneck => Block::Bottleneck(Bottleneck {
                conv1: conv(inplanes, planes, 1, 1, 0, device),
                bn1: BatchNormConfig::new(planes).init(device),
                conv2: conv(planes, planes, 3, stride, 1, device),
                bn2: BatchNormConfig::new(planes).init(device),
                conv3: conv(planes, out, 1, 1, 0, device),
                bn3: BatchNormConfig::new(out).init(device),
                relu: GatedRelu::new(mode),
                downsample,
            }),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, inplanes, h, w]`; output `[batch, planes·expansion, h/stride, w/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Block::Basic(b) => b.forward(x),
            Block::Bottleneck(b) => b.forward(x),
        }
    }

    fn relu_mut(&mut self) -> &mut GatedRelu {
        match self {
            Block::Basic(b) => &mut b.relu,
            Block::Bottleneck(b) => &mut b.relu,
        }
    }
}

/// `out + shortcut(x)`: the block's residual sum. The block's input `x` also fed its first
/// convolution, whose gradient for `x` went to `shared`; the shortcut sends its own there too
/// (the identity through the sum, a projection through its convolution), so that the two are
/// summed in one parallel pass ([`SharedGradient`]).
fn residual_sum(
    ds: &Option<Vec<DownsampleLayer>>,
    out: Tensor<4>,
    x: Tensor<4>,
    shared: &SharedGradient,
) -> Tensor<4> {
    match ds.as_deref() {
        None => elementwise_op::add_sharing(out, x, Some(shared)),
        // torchvision's projection: the convolution and its BatchNorm, folded where they can be.
        Some([DownsampleLayer::Conv(c), DownsampleLayer::Norm(n)]) => {
            elementwise_op::add(out, conv2d_batch_norm_sharing(c, n, x, Some(shared)))
        }
        // Any other layout: its layers one after the other.
        Some(layers) => {
            let shortcut = layers.iter().fold(x, |x, l| match l {
                DownsampleLayer::Conv(c) => conv2d(c, x),
                DownsampleLayer::Norm(n) => batch_norm_inference(n, x),
            });
            elementwise_op::add(out, shortcut)
        }
    }
}

/// torchvision's `BasicBlock`.
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// 3×3 convolution (carries the stride).
    pub conv1: Conv2d,
    /// BatchNorm after `conv1`.
    pub bn1: BatchNorm,
    /// The block's ReLU (applied twice).
    pub relu: GatedRelu,
    /// 3×3 convolution.
    pub conv2: Conv2d,
    /// BatchNorm after `conv2`.
    pub bn2: BatchNorm,
    /// Projection shortcut (`downsample.0` conv, `downsample.1` BatchNorm).
    pub downsample: Option<Vec<DownsampleLayer>>,
}

impl BasicBlock {
    /// relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut(x)).
    ///
    /// # Shapes
    /// - `x`: `[batch, inplanes, h, w]`; output `[batch, planes, h/stride, w/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shared = SharedGradient::new();
        let out = conv2d_batch_norm_sharing(&self.conv1, &self.bn1, x.clone(), Some(&shared));
        let out = conv2d_batch_norm(&self.conv2, &self.bn2, self.relu.forward(out));
        self.relu
            .forward(residual_sum(&self.downsample, out, x, &shared))
    }
}

/// torchvision's `Bottleneck` (stride on the 3×3 convolution, "ResNet v1.5").
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1×1 reduction.
    pub conv1: Conv2d,
    /// BatchNorm after `conv1`.
    pub bn1: BatchNorm,
    /// 3×3 convolution (carries the stride).
    pub conv2: Conv2d,
    /// BatchNorm after `conv2`.
    pub bn2: BatchNorm,
    /// 1×1 expansion (×4).
    pub conv3: Conv2d,
    /// BatchNorm after `conv3`.
    pub bn3: BatchNorm,
    /// The block's ReLU (applied three times).
    pub relu: GatedRelu,
    /// Projection shortcut (`downsample.0` conv, `downsample.1` BatchNorm).
    pub downsample: Option<Vec<DownsampleLayer>>,
}

impl Bottleneck {
    /// relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1 x))))))) + shortcut(x)).
    ///
    /// # Shapes
    /// - `x`: `[batch, inplanes, h, w]`; output `[batch, 4·planes, h/stride, w/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shared = SharedGradient::new();
        let out = conv2d_batch_norm_sharing(&self.conv1, &self.bn1, x.clone(), Some(&shared));
        let out = self.relu.forward(conv2d_batch_norm(
            &self.conv2,
            &self.bn2,
            self.relu.forward(out),
        ));
        let out = conv2d_batch_norm(&self.conv3, &self.bn3, out);
        self.relu
            .forward(residual_sum(&self.downsample, out, x, &shared))
    }
}

/// torchvision's `ResNet`, gated.
#[derive(Module, Debug)]
pub struct ResNet {
    /// 7×7 stride-2 stem convolution.
    pub conv1: Conv2d,
    /// Stem BatchNorm.
    pub bn1: BatchNorm,
    /// Stem ReLU.
    pub relu: GatedRelu,
    /// 3×3 stride-2 max-pool (padding 1).
    pub maxpool: GatedMaxPool2d,
    /// Stage 1.
    pub layer1: Vec<Block>,
    /// Stage 2.
    pub layer2: Vec<Block>,
    /// Stage 3.
    pub layer3: Vec<Block>,
    /// Stage 4.
    pub layer4: Vec<Block>,
    /// Final linear layer (after global average pooling, torchvision's `avgpool`).
    pub fc: Linear,
    /// Number of classes.
    pub num_classes: usize,
}

impl ResNet {
    fn stages(&self) -> [&Vec<Block>; 4] {
        [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
    }
}

impl Classifier for ResNet {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_imagenet(from_signed_unit_to_imagenet(images))
    }

    fn forward_imagenet(&self, x: Tensor<4>) -> Tensor<2> {
        let _awake = crate::awake::keep_workers_awake();
        let x = self
            .relu
            .forward(conv2d_batch_norm(&self.conv1, &self.bn1, x));
        let mut x = self.maxpool.forward(x);
        for stage in self.stages() {
            for block in stage {
                x = block.forward(x);
            }
        }
        let x = adaptive_avg_pool2d(x, [1, 1]).flatten::<2>(1, 3);
        linear_op::linear(&self.fc, x)
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn min_input_size(&self) -> usize {
        // Padded 7×7/s2 stem and padded 3×3/s2 pool accept any side ≥ 1.
        1
    }
}

impl Gated for ResNet {
    fn visit_gates(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut GradientMode)) {
        f(&join(prefix, "relu"), &mut self.relu.mode);
        f(&join(prefix, "maxpool"), &mut self.maxpool.mode);
        let stages = [
            &mut self.layer1,
            &mut self.layer2,
            &mut self.layer3,
            &mut self.layer4,
        ];
        for (i, stage) in stages.into_iter().enumerate() {
            for (j, block) in stage.iter_mut().enumerate() {
                let name = join(prefix, &format!("layer{}.{j}.relu", i + 1));
                f(&name, &mut block.relu_mut().mode);
            }
        }
    }
}

/// torchvision's `resnet50()` (Bottleneck, [3, 4, 6, 3], 1000 classes), gated by `mode`.
pub fn resnet50(device: &Device, mode: GradientMode) -> Result<ResNet> {
    ResNetConfig::resnet50().init(device, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::testing::{fill, images};
    use crate::weights::expected_shapes;

    #[test]
    fn resnet50_keys_and_shapes_match_torchvision() {
        let dev = BackendKind::Flex.device();
        let mut m = resnet50(&dev, GradientMode::paper()).unwrap();
        let keys = expected_shapes(&m);
        // torchvision's resnet50 state dict has 320 entries, 53 of them num_batches_tracked.
        assert_eq!(keys.len(), 320 - 53);
        let want: [(&str, &[usize]); 9] = [
            ("conv1.weight", &[64, 3, 7, 7]),
            ("bn1.running_var", &[64]),
            ("layer1.0.conv1.weight", &[64, 64, 1, 1]),
            ("layer1.0.downsample.0.weight", &[256, 64, 1, 1]),
            ("layer1.0.downsample.1.weight", &[256]),
            ("layer2.0.conv2.weight", &[128, 128, 3, 3]),
            ("layer4.2.conv3.weight", &[2048, 512, 1, 1]),
            ("fc.weight", &[1000, 2048]),
            ("fc.bias", &[1000]),
        ];
        for (k, s) in want {
            assert_eq!(keys.get(k).map(|v| v.as_slice()), Some(s), "{k}");
        }
        assert!(!keys.contains_key("layer1.1.downsample.0.weight"));
        // 1 stem relu + maxpool + 16 blocks.
        let gates = m.gradient_modes();
        assert_eq!(gates.len(), 18);
        assert_eq!(gates[0].0, "relu");
        assert_eq!(gates[1].0, "maxpool");
        assert_eq!(gates[17].0, "layer4.2.relu");
        assert!(gates.iter().all(|(_, g)| *g == GradientMode::paper()));
    }

    #[test]
    fn tiny_forward_shapes_and_mode_independent_values() {
        let dev = BackendKind::Flex.device();
        for block in [BlockKind::Basic, BlockKind::Bottleneck] {
            let mut m = ResNetConfig::tiny(block)
                .init(&dev, GradientMode::Vanilla)
                .unwrap();
            fill(&mut m, 11);
            let x = images(2, 24, 20, 3, &dev);
            let y = m.forward(x.clone());
            assert_eq!(y.dims(), [2, 10]);
            let v = tensor_to_vec(y).unwrap();
            assert!(v.iter().all(|x| x.is_finite()));
            // Forward values do not depend on the gradient mode (also on an autodiff device).
            let mut g = m.clone();
            g.set_gradient_mode(GradientMode::paper()).unwrap();
            let ad = BackendKind::Flex.autodiff_device();
            let xa = x.to_device(&ad).autodiff().require_grad();
            assert_eq!(tensor_to_vec(g.forward(xa)).unwrap(), v);
        }
    }

    #[test]
    fn invalid_configs_are_errors() {
        let dev = BackendKind::Flex.device();
        let mut c = ResNetConfig::tiny(BlockKind::Basic);
        c.layers = [1, 0, 1, 1];
        assert!(matches!(
            c.init(&dev, GradientMode::Vanilla),
            Err(Error::Config(_))
        ));
        let bad = GradientMode::Excitation {
            sigma: crate::gate::Sigma::Sigmoid,
            temperature: 0.0,
        };
        assert!(ResNetConfig::tiny(BlockKind::Basic)
            .init(&dev, bad)
            .is_err());
    }
}
