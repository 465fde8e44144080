//! VGG (Simonyan & Zisserman 2015) in torchvision's exact layout, every ReLU and max-pool gated
//! (paper Sec. 5: VGG11_BN experiments; Listings 1–2 applied by module replacement).
//!
//! `features.N` indices are exactly those of torchvision's `make_layers`: for each number in the
//! configuration a `Conv2d(3×3, padding 1)`, then (with BN) a `BatchNorm2d`, then a `ReLU`; for
//! each `M` a `MaxPool2d(2, 2)`. Then `avgpool` (AdaptiveAvgPool2d(7, 7)) and `classifier.0..6`
//! = Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear. Dropout is the identity (eval mode).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{module::adaptive_avg_pool2d, Device, Tensor};

use crate::backend::ensure_fits;
use crate::batch_norm::batch_norm_inference;
use crate::classifier::Classifier;
use crate::conv_op::{conv2d, conv2d_batch_norm};
use crate::error::{Error, Result};
use crate::gate::{join, Gated, GradientMode};
use crate::linear_op;
use crate::max_pool::{GatedMaxPool2d, GatedMaxPool2dConfig};
use crate::normalize::from_signed_unit_to_imagenet;
use crate::relu::GatedRelu;

/// One entry of torchvision's VGG configuration list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VggItem {
    /// A 3×3 convolution with this many output channels (then BN if enabled, then ReLU).
    Conv(usize),
    /// `"M"`: a 2×2 stride-2 max-pool.
    MaxPool,
}

/// torchvision's configuration "A" (VGG11).
pub fn cfg_a() -> Vec<VggItem> {
    use VggItem::{Conv as C, MaxPool as M};
    vec![
        C(64),
        M,
        C(128),
        M,
        C(256),
        C(256),
        M,
        C(512),
        C(512),
        M,
        C(512),
        C(512),
        M,
    ]
}

/// torchvision's `VGG(make_layers(cfg, batch_norm), num_classes)`.
#[derive(Debug, Clone, PartialEq)]
pub struct VggConfig {
    /// The layer list (`cfgs["A"]` for VGG11).
    pub cfg: Vec<VggItem>,
    /// Whether each convolution is followed by a BatchNorm (`vgg11_bn`).
    pub batch_norm: bool,
    /// Number of classes.
    pub num_classes: usize,
    /// Hidden width of the classifier (4096 in torchvision).
    pub hidden: usize,
    /// Output side of the adaptive average pool (7 in torchvision).
    pub pool_size: usize,
}

impl VggConfig {
    /// A configuration with torchvision's classifier (4096 hidden, 7×7 pool).
    pub fn new(cfg: Vec<VggItem>, batch_norm: bool, num_classes: usize) -> Self {
        Self {
            cfg,
            batch_norm,
            num_classes,
            hidden: 4096,
            pool_size: 7,
        }
    }

    /// torchvision's `vgg11_bn()`.
    pub fn vgg11_bn() -> Self {
        Self::new(cfg_a(), true, 1000)
    }

    /// torchvision's `vgg11()`.
    pub fn vgg11() -> Self {
        Self::new(cfg_a(), false, 1000)
    }

    /// A tiny variant for tests: `[8, M, 16, M, 16, M]`, 32 hidden, 2×2 pool, 10 classes.
    pub fn tiny(batch_norm: bool) -> Self {
        use VggItem::{Conv as C, MaxPool as M};
        Self {
            cfg: vec![C(8), M, C(16), M, C(16), M],
            batch_norm,
            num_classes: 10,
            hidden: 32,
            pool_size: 2,
        }
    }

    /// Sets the classifier's hidden width and the adaptive pool's output side.
    pub fn with_classifier(mut self, hidden: usize, pool_size: usize) -> Self {
        self.hidden = hidden;
        self.pool_size = pool_size;
        self
    }

    /// Builds the network on `device` in eval mode (BatchNorm on running statistics, parameters
    /// frozen), every gated layer following `mode`.
    pub fn init(&self, device: &Device, mode: GradientMode) -> Result<Vgg> {
        let mode = mode.validate()?;
        let bad = self.num_classes == 0
            || self.hidden == 0
            || self.pool_size == 0
            || !self.cfg.iter().any(|i| matches!(i, VggItem::Conv(_)))
            || self.cfg.contains(&VggItem::Conv(0));
        if bad {
            return Err(Error::Config(format!(
                "VGG needs at least one convolution, positive channel counts, classes, hidden width \
                 and pool size, got {self:?}"
            )));
        }
        let mut features = Vec::new();
        let mut cin = 3;
        for item in &self.cfg {
            match *item {
                VggItem::Conv(cout) => {
                    features.push(VggLayer::Conv(
                        Conv2dConfig::new([cin, cout], [3, 3])
                            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                            .init(device),
                    ));
                    if self.batch_norm {
                        features.push(VggLayer::Norm(BatchNormConfig::new(cout).init(device)));
                    }
                    features.push(VggLayer::Relu(GatedRelu::new(mode)));
                    cin = cout;
                }
                VggItem::MaxPool => {
                    features.push(VggLayer::Pool(GatedMaxPool2dConfig::new(2).init(mode)));
                }
            }
        }
        let flat = cin * self.pool_size * self.pool_size;
        // The largest parameters (VGG11_BN's first is 411 MB, more than some GPU drivers bind).
        for (name, shape) in [
            ("classifier.0.weight", [self.hidden, flat]),
            ("classifier.3.weight", [self.hidden, self.hidden]),
            ("classifier.6.weight", [self.num_classes, self.hidden]),
        ] {
            ensure_fits(device, name, &shape)?;
        }
        let classifier = vec![
            ClassifierLayer::Linear(LinearConfig::new(flat, self.hidden).init(device)),
            ClassifierLayer::Relu(GatedRelu::new(mode)),
            ClassifierLayer::Dropout(EvalDropout { prob: 0.5 }),
            ClassifierLayer::Linear(LinearConfig::new(self.hidden, self.hidden).init(device)),
            ClassifierLayer::Relu(GatedRelu::new(mode)),
            ClassifierLayer::Dropout(EvalDropout { prob: 0.5 }),
            ClassifierLayer::Linear(LinearConfig::new(self.hidden, self.num_classes).init(device)),
        ];
        let pools = self.cfg.iter().filter(|i| **i == VggItem::MaxPool).count() as u32;
        let model = Vgg {
            features,
            classifier,
            pool_size: self.pool_size,
            num_classes: self.num_classes,
            min_input_size: 1usize << pools,
        };
        Ok(model.freeze())
    }
}

/// Dropout in eval mode: the identity (kept so that `classifier` indices match torchvision).
#[derive(Module, Debug)]
pub struct EvalDropout {
    /// torchvision's drop probability (unused in eval mode).
    pub prob: f64,
}

/// One entry of `features`.
#[derive(Module, Debug)]
pub enum VggLayer {
    /// 3×3 convolution, padding 1, with bias.
    Conv(Conv2d),
    /// BatchNorm (`_bn` variants).
    Norm(BatchNorm),
    /// Gated ReLU.
    Relu(GatedRelu),
    /// Gated 2×2 max-pool.
    Pool(GatedMaxPool2d),
}

/// One entry of `classifier`.
#[derive(Module, Debug)]
pub enum ClassifierLayer {
    /// Linear layer.
    Linear(Linear),
    /// Gated ReLU.
    Relu(GatedRelu),
    /// Dropout (identity in eval mode).
    Dropout(EvalDropout),
}

/// torchvision's `VGG`, gated.
#[derive(Module, Debug)]
pub struct Vgg {
    /// `features.N`, torchvision's indices.
    pub features: Vec<VggLayer>,
    /// `classifier.N`, torchvision's indices.
    pub classifier: Vec<ClassifierLayer>,
    /// Adaptive average pool output side.
    pub pool_size: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// 2^(number of max-pools).
    pub min_input_size: usize,
}

impl Classifier for Vgg {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_imagenet(from_signed_unit_to_imagenet(images))
    }

    fn forward_imagenet(&self, x: Tensor<4>) -> Tensor<2> {
        let _awake = crate::awake::keep_workers_awake();
        let mut x = x;
        let mut layers = self.features.iter().peekable();
        while let Some(layer) = layers.next() {
            x = match (layer, layers.peek()) {
                // A convolution followed by its BatchNorm: one operation (conv_op).
                (VggLayer::Conv(c), Some(VggLayer::Norm(n))) => {
                    layers.next();
                    conv2d_batch_norm(c, n, x)
                }
                (VggLayer::Conv(c), _) => conv2d(c, x),
                (VggLayer::Norm(n), _) => batch_norm_inference(n, x),
                (VggLayer::Relu(r), _) => r.forward(x),
                (VggLayer::Pool(p), _) => p.forward(x),
            };
        }
        let x = adaptive_avg_pool2d(x, [self.pool_size, self.pool_size]);
        let mut x: Tensor<2> = x.flatten(1, 3);
        for layer in &self.classifier {
            x = match layer {
                ClassifierLayer::Linear(l) => linear_op::linear(l, x),
                ClassifierLayer::Relu(r) => r.forward(x),
                ClassifierLayer::Dropout(_) => x,
            };
        }
        x
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn min_input_size(&self) -> usize {
        self.min_input_size
    }
}

impl Gated for Vgg {
    fn visit_gates(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut GradientMode)) {
        for (i, layer) in self.features.iter_mut().enumerate() {
            let name = join(prefix, &format!("features.{i}"));
            match layer {
                VggLayer::Relu(r) => f(&name, &mut r.mode),
                VggLayer::Pool(p) => f(&name, &mut p.mode),
                _ => {}
            }
        }
        for (i, layer) in self.classifier.iter_mut().enumerate() {
            if let ClassifierLayer::Relu(r) = layer {
                f(&join(prefix, &format!("classifier.{i}")), &mut r.mode);
            }
        }
    }
}

/// torchvision's `vgg11_bn()`, gated by `mode`.
pub fn vgg11_bn(device: &Device, mode: GradientMode) -> Result<Vgg> {
    VggConfig::vgg11_bn().init(device, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::testing::{fill, images};
    use crate::weights::expected_shapes;

    #[test]
    fn vgg11_bn_keys_and_shapes_match_torchvision() {
        let dev = BackendKind::Flex.device();
        let mut m = vgg11_bn(&dev, GradientMode::paper()).unwrap();
        let keys = expected_shapes(&m);
        // torchvision: 8 convs (2 each), 8 BNs (4 each without num_batches_tracked), 3 linears.
        assert_eq!(keys.len(), 16 + 32 + 6);
        let convs = [0, 4, 8, 11, 15, 18, 22, 25];
        for (i, c) in convs.iter().enumerate() {
            assert!(
                keys.contains_key(&format!("features.{c}.weight")),
                "conv {i} at {c}"
            );
            assert!(
                keys.contains_key(&format!("features.{}.running_mean", c + 1)),
                "bn at {}",
                c + 1
            );
        }
        assert_eq!(keys["features.0.weight"], vec![64, 3, 3, 3]);
        assert_eq!(keys["features.25.weight"], vec![512, 512, 3, 3]);
        assert_eq!(keys["classifier.0.weight"], vec![4096, 512 * 7 * 7]);
        assert_eq!(keys["classifier.3.weight"], vec![4096, 4096]);
        assert_eq!(keys["classifier.6.weight"], vec![1000, 4096]);
        assert_eq!(keys["classifier.6.bias"], vec![1000]);
        // Gated: 8 ReLUs and 5 pools in features, 2 ReLUs in the classifier.
        let names: Vec<String> = m.gradient_modes().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 15);
        assert_eq!(
            &names[..4],
            ["features.2", "features.3", "features.6", "features.7"]
        );
        assert_eq!(&names[13..], ["classifier.1", "classifier.4"]);
        assert_eq!(m.min_input_size(), 32);
    }

    #[test]
    fn vgg11_without_bn_numbers_features_like_torchvision() {
        let dev = BackendKind::Flex.device();
        let m = VggConfig::vgg11()
            .with_classifier(8, 1)
            .init(&dev, GradientMode::Vanilla)
            .unwrap();
        let keys = expected_shapes(&m);
        for c in [0, 3, 6, 8, 11, 13, 16, 18] {
            assert!(
                keys.contains_key(&format!("features.{c}.bias")),
                "conv at {c}"
            );
        }
        assert_eq!(keys.len(), 16 + 6);
    }

    #[test]
    fn tiny_forward_shapes() {
        let dev = BackendKind::Flex.device();
        for bn in [false, true] {
            let mut m = VggConfig::tiny(bn)
                .init(&dev, GradientMode::paper())
                .unwrap();
            fill(&mut m, 5);
            let y = m.forward(images(3, 16, 24, 1, &dev));
            assert_eq!(y.dims(), [3, 10]);
            assert!(tensor_to_vec(y).unwrap().iter().all(|v| v.is_finite()));
            assert!(
                m.check_images([1, 3, 7, 16]).is_err(),
                "8 is the minimum side"
            );
        }
    }
}
