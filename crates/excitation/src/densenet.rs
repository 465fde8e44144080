//! DenseNet (Huang et al. 2017) in torchvision's exact layout, every ReLU and `pool0` gated
//! (paper Sec. 5: DenseNet121 experiments; Listings 1–2 applied by module replacement).
//!
//! torchvision keys: `features.{conv0,norm0,relu0,pool0}`,
//! `features.denseblockK.denselayerJ.{norm1,relu1,conv1,norm2,relu2,conv2}` (K, J from 1),
//! `features.transitionK.{norm,relu,conv,pool}` (`pool` an `AvgPool2d(2, 2)`),
//! `features.norm5`, `classifier`. The burn fields are `features.blocks[K−1].layers[J−1]` and
//! `features.transitions[K−1]`; [`Classifier::torch_key`] translates.
//!
//! **The final ReLU.** torchvision applies the ReLU after `norm5` as a *function*
//! (`F.relu(features)`), so the paper's module replacement (`replace_module_with_custom_` on
//! `nn.ReLU` instances) never reaches it: in the paper's DenseNet121 that ReLU keeps its hard
//! gradient in every mode. Here it is gated like every other ReLU **by default**
//! (`paper_compatible_final_relu = false`); set `paper_compatible_final_relu = true` to
//! reproduce the paper's code exactly.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{
    activation,
    module::{adaptive_avg_pool2d, avg_pool2d},
    ops::AvgPoolOptions,
    Device, Tensor,
};

use crate::backend::ensure_fits;
use crate::batch_norm::{batch_norm_inference, batch_norm_inference_sharing};
use crate::classifier::Classifier;
use crate::conv_op::{conv2d, conv2d_batch_norm};
use crate::elementwise_op;
use crate::elementwise_op::SharedGradient;
use crate::error::{Error, Result};
use crate::gate::{join, Gated, GradientMode};
use crate::linear_op;
use crate::max_pool::{GatedMaxPool2d, GatedMaxPool2dConfig};
use crate::normalize::from_signed_unit_to_imagenet;
use crate::relu::GatedRelu;

/// torchvision's `DenseNet(growth_rate, block_config, num_init_features, bn_size, …)`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseNetConfig {
    /// Channels added by each dense layer (32 for DenseNet121).
    pub growth_rate: usize,
    /// Dense layers per block (`[6, 12, 24, 16]` for DenseNet121).
    pub block_config: Vec<usize>,
    /// Channels after the stem (64).
    pub num_init_features: usize,
    /// Bottleneck factor: each layer's 1×1 convolution has `bn_size · growth_rate` outputs (4).
    pub bn_size: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Keep the ReLU after `norm5` hard (vanilla gradient) in every mode, as in the paper's code.
    /// Default `false`: that ReLU is gated like all others.
    pub paper_compatible_final_relu: bool,
}

impl DenseNetConfig {
    /// A configuration with the final ReLU gated (the default).
    pub fn new(
        growth_rate: usize,
        block_config: Vec<usize>,
        num_init_features: usize,
        bn_size: usize,
        num_classes: usize,
    ) -> Self {
        Self {
            growth_rate,
            block_config,
            num_init_features,
            bn_size,
            num_classes,
            paper_compatible_final_relu: false,
        }
    }

    /// torchvision's `densenet121()`: growth 32, blocks [6, 12, 24, 16], 64 initial features,
    /// bn_size 4, 1000 classes.
    pub fn densenet121() -> Self {
        Self::new(32, vec![6, 12, 24, 16], 64, 4, 1000)
    }

    /// A tiny variant for tests: growth 4, blocks [2, 2], 8 initial features, bn_size 2,
    /// 10 classes.
    pub fn tiny() -> Self {
        Self::new(4, vec![2, 2], 8, 2, 10)
    }

    /// Sets [`DenseNetConfig::paper_compatible_final_relu`].
    pub fn with_paper_compatible_final_relu(mut self, on: bool) -> Self {
        self.paper_compatible_final_relu = on;
        self
    }

    /// Builds the network on `device` in eval mode (BatchNorm on running statistics, parameters
    /// frozen), every gated layer following `mode`.
    pub fn init(&self, device: &Device, mode: GradientMode) -> Result<DenseNet> {
        let mode = mode.validate()?;
        if self.growth_rate == 0
            || self.block_config.is_empty()
            || self.block_config.contains(&0)
            || self.num_init_features == 0
            || self.bn_size == 0
            || self.num_classes == 0
        {
            return Err(Error::Config(format!(
                "DenseNet needs positive growth rate, block sizes (at least one block), initial \
                 features, bn_size and classes, got {self:?}"
            )));
        }
        let bn = |c| BatchNormConfig::new(c).init(device);
        let mut num_features = self.num_init_features;
        let mut blocks = Vec::new();
        let mut transitions = Vec::new();
        for (i, &n) in self.block_config.iter().enumerate() {
            let mut layers = Vec::with_capacity(n);
            for j in 0..n {
                let cin = num_features + j * self.growth_rate;
                let mid = self.bn_size * self.growth_rate;
                layers.push(DenseLayer {
                    norm1: bn(cin),
                    relu1: GatedRelu::new(mode),
                    conv1: conv(cin, mid, 1, 1, 0, device),
                    norm2: bn(mid),
                    relu2: GatedRelu::new(mode),
                    conv2: conv(mid, self.growth_rate, 3, 1, 1, device),
                });
            }
            blocks.push(DenseBlock { layers });
            num_features += n * self.growth_rate;
            if i + 1 != self.block_config.len() {
                transitions.push(Transition {
                    norm: bn(num_features),
                    relu: GatedRelu::new(mode),
                    conv: conv(num_features, num_features / 2, 1, 1, 0, device),
                });
                num_features /= 2;
            }
        }
        let features = DenseFeatures {
            conv0: conv(3, self.num_init_features, 7, 2, 3, device),
            norm0: bn(self.num_init_features),
            relu0: GatedRelu::new(mode),
            pool0: GatedMaxPool2dConfig::new(3)
                .with_stride(2)
                .with_padding(1)
                .init(mode),
            blocks,
            transitions,
            norm5: bn(num_features),
        };
        ensure_fits(
            device,
            "classifier.weight",
            &[self.num_classes, num_features],
        )?;
        let model = DenseNet {
            features,
            final_relu: GatedRelu::new(mode),
            paper_compatible_final_relu: self.paper_compatible_final_relu,
            classifier: LinearConfig::new(num_features, self.num_classes).init(device),
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

/// torchvision's `_DenseLayer` (BN-ReLU-1×1 conv-BN-ReLU-3×3 conv; dropout 0).
#[derive(Module, Debug)]
pub struct DenseLayer {
    /// BatchNorm of the concatenated input.
    pub norm1: BatchNorm,
    /// First ReLU.
    pub relu1: GatedRelu,
    /// 1×1 bottleneck convolution.
    pub conv1: Conv2d,
    /// Second BatchNorm.
    pub norm2: BatchNorm,
    /// Second ReLU.
    pub relu2: GatedRelu,
    /// 3×3 convolution producing `growth_rate` channels.
    pub conv2: Conv2d,
}

impl DenseLayer {
    /// # Shapes
    /// - `x`: `[batch, c, h, w]` (the concatenation so far); output `[batch, growth, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_sharing(x, None)
    }

    /// [`Self::forward`], with `norm1`'s gradient for `x` sent through `shared`
    /// ([`SharedGradient`]: [`DenseBlock`] sums it there with the next append's).
    ///
    /// # Shapes
    /// - `x`: `[batch, c, h, w]` (the concatenation so far); output `[batch, growth, h, w]`.
    pub fn forward_sharing(&self, x: Tensor<4>, shared: Option<&SharedGradient>) -> Tensor<4> {
        // norm1 acts on the concatenation before its ReLU; norm2 directly follows conv1 and
        // folds into it (conv_op::conv2d_batch_norm).
        let normed = batch_norm_inference_sharing(&self.norm1, x, shared);
        let b = conv2d_batch_norm(&self.conv1, &self.norm2, self.relu1.forward(normed));
        conv2d(&self.conv2, self.relu2.forward(b))
    }
}

/// torchvision's `_DenseBlock`: each layer sees the concatenation of all previous outputs.
#[derive(Module, Debug)]
pub struct DenseBlock {
    /// `denselayer1..` (index J−1).
    pub layers: Vec<DenseLayer>,
}

impl DenseBlock {
    /// # Shapes
    /// - `x`: `[batch, c, h, w]`; output `[batch, c + layers·growth, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        // The concatenation of all outputs so far, grown by one layer's output at a time
        // (the same values as torchvision's `torch.cat(features, 1)` before each layer).
        let mut concatenation = x;
        for layer in &self.layers {
            // The concatenation feeds this layer's norm1 and the next append; their two
            // gradients for it meet in `shared` and are summed in one parallel pass.
            let shared = SharedGradient::new();
            let new = layer.forward_sharing(concatenation.clone(), Some(&shared));
            concatenation =
                elementwise_op::append_channels_sharing(concatenation, new, Some(&shared));
        }
        concatenation
    }
}

/// torchvision's `_Transition`: BN, ReLU, 1×1 convolution halving channels, 2×2 average pool.
#[derive(Module, Debug)]
pub struct Transition {
    /// BatchNorm.
    pub norm: BatchNorm,
    /// ReLU.
    pub relu: GatedRelu,
    /// 1×1 convolution.
    pub conv: Conv2d,
}

impl Transition {
    /// # Shapes
    /// - `x`: `[batch, c, h, w]`; output `[batch, c/2, h/2, w/2]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = conv2d(
            &self.conv,
            self.relu.forward(batch_norm_inference(&self.norm, x)),
        );
        avg_pool2d(x, AvgPoolOptions::new([2, 2]).with_stride([2, 2]))
    }
}

/// torchvision's `features` `Sequential`.
#[derive(Module, Debug)]
pub struct DenseFeatures {
    /// 7×7 stride-2 stem convolution.
    pub conv0: Conv2d,
    /// Stem BatchNorm.
    pub norm0: BatchNorm,
    /// Stem ReLU.
    pub relu0: GatedRelu,
    /// 3×3 stride-2 max-pool, padding 1.
    pub pool0: GatedMaxPool2d,
    /// `denseblock1..` (index K−1).
    pub blocks: Vec<DenseBlock>,
    /// `transition1..` (index K−1).
    pub transitions: Vec<Transition>,
    /// Final BatchNorm.
    pub norm5: BatchNorm,
}

/// torchvision's `DenseNet`, gated.
#[derive(Module, Debug)]
pub struct DenseNet {
    /// Convolutional part.
    pub features: DenseFeatures,
    /// The ReLU after `norm5` (a function in torchvision); see the module docs.
    pub final_relu: GatedRelu,
    /// When true the final ReLU is hard in every mode (the paper's code).
    pub paper_compatible_final_relu: bool,
    /// Linear classifier.
    pub classifier: Linear,
    /// Number of classes.
    pub num_classes: usize,
}

impl Classifier for DenseNet {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_imagenet(from_signed_unit_to_imagenet(images))
    }

    fn forward_imagenet(&self, x: Tensor<4>) -> Tensor<2> {
        let _awake = crate::awake::keep_workers_awake();
        let f = &self.features;
        let x = f.relu0.forward(conv2d_batch_norm(&f.conv0, &f.norm0, x));
        let mut x = f.pool0.forward(x);
        for (i, block) in f.blocks.iter().enumerate() {
            x = block.forward(x);
            if let Some(t) = f.transitions.get(i) {
                x = t.forward(x);
            }
        }
        let x = batch_norm_inference(&f.norm5, x);
        let x = if self.paper_compatible_final_relu {
            activation::relu(x)
        } else {
            self.final_relu.forward(x)
        };
        let x = adaptive_avg_pool2d(x, [1, 1]).flatten::<2>(1, 3);
        linear_op::linear(&self.classifier, x)
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn min_input_size(&self) -> usize {
        // Stem (padded) and pool0 (padded) accept side ≥ 1; each 2×2 transition pool needs ≥ 2.
        let transitions = self.features.transitions.len();
        (1..4096)
            .find(|&h| {
                let mut s = (h + 6 - 7) / 2 + 1; // conv0
                s = (s + 2 - 3) / 2 + 1; // pool0
                for _ in 0..transitions {
                    if s < 2 {
                        return false;
                    }
                    s /= 2;
                }
                true
            })
            .unwrap_or(4096)
    }

    fn torch_key(&self, burn_path: &str) -> String {
        densenet_torch_key(burn_path)
    }

    fn burn_path(&self, torch_key: &str) -> String {
        densenet_burn_path(torch_key)
    }
}

/// `features.blocks.K.layers.J.rest` → `features.denseblock{K+1}.denselayer{J+1}.rest`,
/// `features.transitions.K.rest` → `features.transition{K+1}.rest`.
pub fn densenet_torch_key(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let mut out: Vec<String> = Vec::with_capacity(parts.len());
    let mut i = 0;
    while i < parts.len() {
        let next_index = parts.get(i + 1).and_then(|s| s.parse::<usize>().ok());
        match (parts[i], next_index) {
            ("blocks", Some(k)) => {
                out.push(format!("denseblock{}", k + 1));
                i += 2;
            }
            ("layers", Some(j)) => {
                out.push(format!("denselayer{}", j + 1));
                i += 2;
            }
            ("transitions", Some(k)) => {
                out.push(format!("transition{}", k + 1));
                i += 2;
            }
            (p, _) => {
                out.push(p.to_string());
                i += 1;
            }
        }
    }
    out.join(".")
}

/// Inverse of [`densenet_torch_key`]. Also accepts torchvision's legacy key names
/// (`denselayer1.norm.1.weight` → `…norm1.weight`), as torchvision's own loader does with the
/// regex `^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$`.
pub fn densenet_burn_path(key: &str) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    let mut out: Vec<String> = Vec::with_capacity(parts.len() + 2);
    let mut i = 0;
    let numbered = |s: &str, prefix: &str| -> Option<usize> {
        s.strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n >= 1)
    };
    while i < parts.len() {
        let p = parts[i];
        if let Some(k) = numbered(p, "denseblock") {
            out.push("blocks".into());
            out.push((k - 1).to_string());
        } else if let Some(j) = numbered(p, "denselayer") {
            out.push("layers".into());
            out.push((j - 1).to_string());
            // legacy: denselayerJ.norm.1.weight (exactly 3 segments after the layer)
            if parts.len() == i + 4
                && matches!(parts[i + 1], "norm" | "relu" | "conv")
                && matches!(parts[i + 2], "1" | "2")
                && matches!(
                    parts[i + 3],
                    "weight" | "bias" | "running_mean" | "running_var"
                )
            {
                out.push(format!("{}{}", parts[i + 1], parts[i + 2]));
                out.push(parts[i + 3].to_string());
                break;
            }
        } else if let Some(k) = numbered(p, "transition") {
            out.push("transitions".into());
            out.push((k - 1).to_string());
        } else {
            out.push(p.to_string());
        }
        i += 1;
    }
    out.join(".")
}

impl Gated for DenseNet {
    fn visit_gates(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut GradientMode)) {
        let feats = &mut self.features;
        f(&join(prefix, "features.relu0"), &mut feats.relu0.mode);
        f(&join(prefix, "features.pool0"), &mut feats.pool0.mode);
        let n_blocks = feats.blocks.len();
        for k in 0..n_blocks {
            for (j, layer) in feats.blocks[k].layers.iter_mut().enumerate() {
                let base = format!("features.denseblock{}.denselayer{}", k + 1, j + 1);
                f(
                    &join(prefix, &format!("{base}.relu1")),
                    &mut layer.relu1.mode,
                );
                f(
                    &join(prefix, &format!("{base}.relu2")),
                    &mut layer.relu2.mode,
                );
            }
            if let Some(t) = feats.transitions.get_mut(k) {
                let name = format!("features.transition{}.relu", k + 1);
                f(&join(prefix, &name), &mut t.relu.mode);
            }
        }
        if !self.paper_compatible_final_relu {
            f(&join(prefix, "final_relu"), &mut self.final_relu.mode);
        }
    }
}

/// torchvision's `densenet121()`, gated by `mode` (final ReLU gated; see the module docs).
pub fn densenet121(device: &Device, mode: GradientMode) -> Result<DenseNet> {
    DenseNetConfig::densenet121().init(device, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_translation_round_trips_and_reads_legacy_keys() {
        let cases = [
            (
                "features.blocks.0.layers.0.norm1.weight",
                "features.denseblock1.denselayer1.norm1.weight",
            ),
            (
                "features.blocks.3.layers.15.conv2.weight",
                "features.denseblock4.denselayer16.conv2.weight",
            ),
            (
                "features.transitions.2.conv.weight",
                "features.transition3.conv.weight",
            ),
            ("features.norm5.running_var", "features.norm5.running_var"),
            ("classifier.bias", "classifier.bias"),
        ];
        for (burn, torch) in cases {
            assert_eq!(densenet_torch_key(burn), torch);
            assert_eq!(densenet_burn_path(torch), burn);
        }
        assert_eq!(
            densenet_burn_path("features.denseblock2.denselayer10.norm.2.running_mean"),
            "features.blocks.1.layers.9.norm2.running_mean"
        );
        assert_eq!(
            densenet_burn_path("features.denseblock1.denselayer1.conv.1.weight"),
            "features.blocks.0.layers.0.conv1.weight"
        );
        // Not legacy: left alone.
        assert_eq!(
            densenet_burn_path("features.denseblock1.denselayer1.norm.3.weight"),
            "features.blocks.0.layers.0.norm.3.weight"
        );
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::gate::Sigma;
    use crate::pullback::{pullback, Targets};
    use crate::testing::{fill, images};
    use crate::weights::expected_shapes;

    #[test]
    fn densenet121_keys_and_shapes_match_torchvision() {
        let dev = BackendKind::Flex.device();
        let mut m = densenet121(&dev, GradientMode::paper()).unwrap();
        let keys = expected_shapes(&m);
        // torchvision: 727 entries, 121 of them num_batches_tracked.
        assert_eq!(keys.len(), 727 - 121);
        let want: [(&str, &[usize]); 9] = [
            ("features.conv0.weight", &[64, 3, 7, 7]),
            ("features.norm0.running_mean", &[64]),
            ("features.denseblock1.denselayer1.norm1.weight", &[64]),
            (
                "features.denseblock1.denselayer1.conv1.weight",
                &[128, 64, 1, 1],
            ),
            (
                "features.denseblock1.denselayer6.conv2.weight",
                &[32, 128, 3, 3],
            ),
            ("features.transition1.conv.weight", &[128, 256, 1, 1]),
            ("features.denseblock4.denselayer16.norm1.bias", &[992]),
            ("features.norm5.weight", &[1024]),
            ("classifier.weight", &[1000, 1024]),
        ];
        for (k, s) in want {
            assert_eq!(keys.get(k).map(|v| v.as_slice()), Some(s), "{k}");
        }
        // relu0, pool0, 58 layers × 2, 3 transitions, final ReLU.
        assert_eq!(m.gradient_modes().len(), 2 + 116 + 3 + 1);
    }

    fn grad(m: &DenseNet, seed: u64) -> Vec<f32> {
        let dev = BackendKind::Flex.device();
        let ad = BackendKind::Flex.autodiff_device();
        let p = pullback(
            m,
            images(2, 20, 20, seed, &dev),
            &Targets::PerImage(vec![1, 7]),
            2,
            &ad,
        )
        .unwrap();
        tensor_to_vec(p.gradients).unwrap()
    }

    /// The paper-compatible option keeps the final ReLU hard: identical to gating every other
    /// layer while the final ReLU alone is vanilla; different from gating it too.
    #[test]
    fn final_relu_default_gated_and_paper_compatible_hard() {
        let dev = BackendKind::Flex.device();
        let mode = GradientMode::excitation(Sigma::Sigmoid, 0.5).unwrap();
        let mut gated = DenseNetConfig::tiny().init(&dev, mode).unwrap();
        fill(&mut gated, 21);
        assert!(!gated.paper_compatible_final_relu, "gated is the default");
        let mut paper = gated.clone();
        paper.paper_compatible_final_relu = true;
        assert_eq!(
            paper.gradient_modes().len() + 1,
            gated.gradient_modes().len()
        );

        let x = images(2, 20, 20, 4, &dev);
        assert_eq!(
            tensor_to_vec(gated.forward(x.clone())).unwrap(),
            tensor_to_vec(paper.forward(x)).unwrap()
        );
        let g_gated = grad(&gated, 4);
        let g_paper = grad(&paper, 4);
        assert_ne!(g_gated, g_paper);
        let mut hard_final = gated.clone();
        hard_final
            .set_gradient_modes_with(&mut |name| {
                if name == "final_relu" {
                    GradientMode::Vanilla
                } else {
                    mode
                }
            })
            .unwrap();
        assert_eq!(grad(&hard_final, 4), g_paper);
        // In vanilla mode the option changes nothing.
        let mut gv = gated.clone();
        gv.set_gradient_mode(GradientMode::Vanilla).unwrap();
        let mut pv = paper.clone();
        pv.set_gradient_mode(GradientMode::Vanilla).unwrap();
        assert_eq!(grad(&gv, 4), grad(&pv, 4));
    }

    #[test]
    fn tiny_forward_shapes_and_min_size() {
        let dev = BackendKind::Flex.device();
        let mut m = DenseNetConfig::tiny()
            .init(&dev, GradientMode::Vanilla)
            .unwrap();
        fill(&mut m, 2);
        assert_eq!(m.forward(images(2, 17, 23, 8, &dev)).dims(), [2, 10]);
        let min = m.min_input_size();
        assert!(m.forward(images(1, min, min, 8, &dev)).dims() == [1, 10]);
        assert!(m.check_images([1, 3, min - 1, min]).is_err());
    }
}
