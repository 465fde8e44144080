//! The paper's three ImageNet models chosen at run time: [`ModelKind`] names them (with
//! torchvision's `IMAGENET1K_V1` weight files, the paper's `pretrained=True`), [`AnyModel`]
//! holds any of them behind one [`Classifier`].

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::classifier::Classifier;
use crate::densenet::{DenseNet, DenseNetConfig};
use crate::error::{Error, Result};
use crate::gate::{Gated, GradientMode};
use crate::resnet::{ResNet, ResNetConfig};
use crate::vgg::{Vgg, VggConfig};

/// One of the paper's models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// torchvision `resnet50`.
    ResNet50,
    /// torchvision `vgg11_bn`.
    Vgg11Bn,
    /// torchvision `densenet121`.
    DenseNet121,
}

impl ModelKind {
    /// All three, in the paper's order.
    pub const ALL: [ModelKind; 3] = [
        ModelKind::ResNet50,
        ModelKind::Vgg11Bn,
        ModelKind::DenseNet121,
    ];

    /// torchvision's name: `resnet50`, `vgg11_bn`, `densenet121`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::ResNet50 => "resnet50",
            ModelKind::Vgg11Bn => "vgg11_bn",
            ModelKind::DenseNet121 => "densenet121",
        }
    }

    /// Parses a torchvision name (case-insensitive; `-` for `_` accepted).
    pub fn parse(name: &str) -> Result<Self> {
        let n = name.to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|k| k.name() == n)
            .ok_or_else(|| Error::UnknownName {
                what: "model",
                name: name.to_string(),
                expected: "resnet50, vgg11_bn, densenet121".into(),
            })
    }

    /// File name of torchvision's `IMAGENET1K_V1` weights.
    pub fn weights_file(self) -> &'static str {
        match self {
            ModelKind::ResNet50 => "resnet50-0676ba61.pth",
            ModelKind::Vgg11Bn => "vgg11_bn-6002323d.pth",
            ModelKind::DenseNet121 => "densenet121-a639ec97.pth",
        }
    }

    /// Download URL of torchvision's `IMAGENET1K_V1` weights.
    pub fn weights_url(self) -> String {
        format!(
            "https://download.pytorch.org/models/{}",
            self.weights_file()
        )
    }

    /// Builds the model (eval mode, frozen, parameters not yet loaded).
    pub fn init(self, device: &Device, mode: GradientMode) -> Result<AnyModel> {
        Ok(match self {
            ModelKind::ResNet50 => AnyModel::ResNet(ResNetConfig::resnet50().init(device, mode)?),
            ModelKind::Vgg11Bn => AnyModel::Vgg(VggConfig::vgg11_bn().init(device, mode)?),
            ModelKind::DenseNet121 => {
                AnyModel::DenseNet(DenseNetConfig::densenet121().init(device, mode)?)
            }
        })
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ModelKind::parse(s)
    }
}

/// Any of the three families (state-dict keys are those of the inner model).
// Variants hold their model by value, as burn's `Module` derive expects (size is irrelevant).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum AnyModel {
    /// A ResNet.
    ResNet(ResNet),
    /// A VGG.
    Vgg(Vgg),
    /// A DenseNet.
    DenseNet(DenseNet),
}

macro_rules! each {
    ($self:expr, $m:ident => $e:expr) => {
        match $self {
            AnyModel::ResNet($m) => $e,
            AnyModel::Vgg($m) => $e,
            AnyModel::DenseNet($m) => $e,
        }
    };
}

impl Classifier for AnyModel {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        each!(self, m => m.forward(images))
    }
    fn forward_imagenet(&self, x: Tensor<4>) -> Tensor<2> {
        each!(self, m => m.forward_imagenet(x))
    }
    fn num_classes(&self) -> usize {
        each!(self, m => m.num_classes())
    }
    fn min_input_size(&self) -> usize {
        each!(self, m => m.min_input_size())
    }
    fn torch_key(&self, burn_path: &str) -> String {
        each!(self, m => m.torch_key(burn_path))
    }
    fn burn_path(&self, torch_key: &str) -> String {
        each!(self, m => m.burn_path(torch_key))
    }
}

impl Gated for AnyModel {
    fn visit_gates(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut GradientMode)) {
        each!(self, m => m.visit_gates(prefix, f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::densenet::DenseNetConfig;
    use crate::testing::{fill, images, temp_path};
    use crate::weights::{expected_shapes, load_weights, save_safetensors, SaveOptions};

    #[test]
    fn names_and_urls() {
        for k in ModelKind::ALL {
            assert_eq!(ModelKind::parse(k.name()).unwrap(), k);
            assert!(k
                .weights_url()
                .starts_with("https://download.pytorch.org/models/"));
        }
        assert_eq!(ModelKind::parse("VGG11-BN").unwrap(), ModelKind::Vgg11Bn);
        assert!(ModelKind::parse("resnet18").is_err());
    }

    /// The wrapper is transparent: same keys, same weights file, same logits as the inner model.
    #[test]
    fn wrapper_keys_and_values_are_the_inner_models() {
        let dev = BackendKind::Flex.device();
        let mut inner = DenseNetConfig::tiny()
            .init(&dev, GradientMode::Vanilla)
            .unwrap();
        fill(&mut inner, 8);
        let path = temp_path("any.safetensors");
        save_safetensors(&inner, &path, SaveOptions::default()).unwrap();
        let mut any = AnyModel::DenseNet(
            DenseNetConfig::tiny()
                .init(&dev, GradientMode::Vanilla)
                .unwrap(),
        );
        assert_eq!(expected_shapes(&any), expected_shapes(&inner));
        load_weights(&mut any, &path).unwrap();
        let x = images(1, 16, 16, 2, &dev);
        assert_eq!(
            tensor_to_vec(any.forward(x.clone())).unwrap(),
            tensor_to_vec(inner.forward(x)).unwrap()
        );
        assert_eq!(any.gradient_modes().len(), inner.gradient_modes().len());
    }
}
