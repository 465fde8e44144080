//! Either small network, chosen at run time: what training, checkpoints and the
//! measurements work on.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::gating::{GateKind, GateMode};
use super::plain_cnn::{PlainCnn, PlainCnnConfig, Trace};
use super::resnet::{SmallResNet, SmallResNetConfig};
use crate::experiment_error::{ExperimentError, ExperimentResult};

/// Architecture of a [`SmallNet`]. In JSON a plain CNN is its [`PlainCnnConfig`] as is (so
/// run folders written before the ResNet existed still read), a ResNet is
/// `{"resnet": SmallResNetConfig}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SmallNetConfig {
    /// The small ResNet.
    ResNet {
        /// Its configuration.
        resnet: SmallResNetConfig,
    },
    /// A plain CNN.
    Plain(PlainCnnConfig),
}

impl From<PlainCnnConfig> for SmallNetConfig {
    fn from(c: PlainCnnConfig) -> Self {
        SmallNetConfig::Plain(c)
    }
}

impl From<SmallResNetConfig> for SmallNetConfig {
    fn from(c: SmallResNetConfig) -> Self {
        SmallNetConfig::ResNet { resnet: c }
    }
}

impl SmallNetConfig {
    /// Checks the sizes fit together.
    pub fn validate(&self) -> ExperimentResult<()> {
        match self {
            SmallNetConfig::Plain(c) => c.validate(),
            SmallNetConfig::ResNet { resnet } => resnet.validate(),
        }
    }

    /// Builds the network (seed `device` first for a reproducible initialisation).
    pub fn init(&self, device: &Device) -> ExperimentResult<SmallNet> {
        Ok(match self {
            SmallNetConfig::Plain(c) => SmallNet::Plain(c.init(device)?),
            SmallNetConfig::ResNet { resnet } => SmallNet::ResNet(resnet.init(device)?),
        })
    }

    /// `(channels, height = width)` of the input.
    pub fn input(&self) -> (usize, usize) {
        match self {
            SmallNetConfig::Plain(c) => (c.in_channels, c.image_size),
            SmallNetConfig::ResNet { resnet } => (resnet.in_channels, resnet.image_size),
        }
    }

    /// Whether the network has skip connections (then the chain-only measurements, the
    /// rank-1 tensor correlation and the product kernels of Eq. 23, do not apply).
    pub fn has_skips(&self) -> bool {
        matches!(self, SmallNetConfig::ResNet { .. })
    }

    /// A short description (`plain CNN, BatchNorm`, `ResNet [1, 1, 1] width 16`).
    pub fn describe(&self) -> String {
        match self {
            SmallNetConfig::Plain(c) => {
                format!(
                    "plain CNN {:?}×{}, {}",
                    c.channels,
                    c.convs_per_block,
                    if c.batch_norm {
                        "BatchNorm"
                    } else {
                        "no BatchNorm"
                    }
                )
            }
            SmallNetConfig::ResNet { resnet } => {
                format!(
                    "ResNet {:?} blocks, base width {}, BatchNorm",
                    resnet.blocks_per_stage, resnet.base_width
                )
            }
        }
    }
}

/// What the measurements, pullbacks and training need of a small network: its forward pass
/// in a [`GateMode`] with the input of every gate layer, and its gate layers' names.
pub trait GatedNetwork {
    /// Forward pass in `mode`, keeping every gate layer's input.
    ///
    /// # Shapes
    /// `x`: `[N, C, H, W]` → logits `[N, classes]`.
    fn forward_traced(&self, x: Tensor<4>, mode: GateMode<'_>) -> ExperimentResult<Trace>;

    /// Names and kinds of the gate layers, in forward order.
    fn gate_names(&self) -> Vec<(String, GateKind)>;

    /// Whether the network has skip connections (then the chain-only measurements, the
    /// rank-1 tensor correlation and the product kernels of Eq. 23, do not apply).
    fn has_skips(&self) -> bool;

    /// Logits of the ordinary network.
    ///
    /// # Shapes
    /// `x`: `[N, C, H, W]` → `[N, classes]`.
    fn logits(&self, x: Tensor<4>) -> ExperimentResult<Tensor<2>> {
        Ok(self.forward_traced(x, GateMode::Relu)?.logits)
    }
}

impl GatedNetwork for PlainCnn {
    fn forward_traced(&self, x: Tensor<4>, mode: GateMode<'_>) -> ExperimentResult<Trace> {
        PlainCnn::forward_traced(self, x, mode)
    }
    fn gate_names(&self) -> Vec<(String, GateKind)> {
        PlainCnn::gate_names(self)
    }
    fn has_skips(&self) -> bool {
        false
    }
}

impl GatedNetwork for SmallResNet {
    fn forward_traced(&self, x: Tensor<4>, mode: GateMode<'_>) -> ExperimentResult<Trace> {
        SmallResNet::forward_traced(self, x, mode)
    }
    fn gate_names(&self) -> Vec<(String, GateKind)> {
        SmallResNet::gate_names(self)
    }
    fn has_skips(&self) -> bool {
        true
    }
}

impl GatedNetwork for SmallNet {
    fn forward_traced(&self, x: Tensor<4>, mode: GateMode<'_>) -> ExperimentResult<Trace> {
        SmallNet::forward_traced(self, x, mode)
    }
    fn gate_names(&self) -> Vec<(String, GateKind)> {
        SmallNet::gate_names(self)
    }
    fn has_skips(&self) -> bool {
        SmallNet::has_skips(self)
    }
}

/// A plain CNN or a small ResNet.
// Variants hold their module by value, as burn's `Module` derive expects.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum SmallNet {
    /// A plain CNN.
    Plain(PlainCnn),
    /// The small ResNet.
    ResNet(SmallResNet),
}

fn ck_err(path: &Path, e: impl std::fmt::Display) -> ExperimentError {
    ExperimentError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl SmallNet {
    /// Logits of the ordinary network.
    ///
    /// # Shapes
    /// `x`: `[N, C, H, W]` → `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            SmallNet::Plain(m) => m.forward(x),
            SmallNet::ResNet(m) => m
                .forward_traced(x, GateMode::Relu)
                .map(|t| t.logits)
                .expect("Relu mode cannot fail"),
        }
    }

    /// Forward pass in `mode`, keeping every gate layer's input.
    ///
    /// # Shapes
    /// `x`: `[N, C, H, W]` → logits `[N, classes]`.
    pub fn forward_traced(&self, x: Tensor<4>, mode: GateMode<'_>) -> ExperimentResult<Trace> {
        match self {
            SmallNet::Plain(m) => m.forward_traced(x, mode),
            SmallNet::ResNet(m) => m.forward_traced(x, mode),
        }
    }

    /// Names and kinds of the gate layers, in forward order.
    pub fn gate_names(&self) -> Vec<(String, GateKind)> {
        match self {
            SmallNet::Plain(m) => m.gate_names(),
            SmallNet::ResNet(m) => m.gate_names(),
        }
    }

    /// Whether the network has skip connections.
    pub fn has_skips(&self) -> bool {
        matches!(self, SmallNet::ResNet(_))
    }

    /// Writes the parameters and BatchNorm statistics to `path` (burnpack), under the same
    /// names as the inner network's own (so a plain CNN's file is what it always was).
    pub fn save_weights(&self, path: &Path) -> ExperimentResult<()> {
        match self {
            SmallNet::Plain(m) => m.clone().save_file(path).map_err(|e| ck_err(path, e)),
            SmallNet::ResNet(m) => m.clone().save_file(path).map_err(|e| ck_err(path, e)),
        }
    }

    /// Loads what [`SmallNet::save_weights`] wrote into this network.
    pub fn load_weights(self, path: &Path) -> ExperimentResult<Self> {
        match self {
            SmallNet::Plain(m) => m
                .try_load_file(path)
                .map(SmallNet::Plain)
                .map_err(|e| ck_err(path, e)),
            SmallNet::ResNet(m) => m
                .try_load_file(path)
                .map(SmallNet::ResNet)
                .map_err(|e| ck_err(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Old run folders hold a bare `PlainCnnConfig`; both kinds round-trip through JSON.
    #[test]
    fn config_json_reads_old_plain_configs_and_round_trips() {
        let plain = PlainCnnConfig::fashion_mnist(true);
        let old = serde_json::to_string(&plain).unwrap();
        assert_eq!(
            serde_json::from_str::<SmallNetConfig>(&old).unwrap(),
            SmallNetConfig::Plain(plain)
        );
        let r: SmallNetConfig = SmallResNetConfig::fashion_mnist().into();
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.starts_with("{\"resnet\":"), "{json}");
        assert_eq!(serde_json::from_str::<SmallNetConfig>(&json).unwrap(), r);
        assert!(r.has_skips() && r.describe().contains("ResNet"));
        assert!(serde_json::from_str::<SmallNetConfig>("{\"in_channels\": 1}").is_err());
    }

    /// Saving through the enum writes the inner network's file: a plain CNN saved bare loads
    /// through the enum and the other way round, with identical logits.
    #[test]
    fn files_are_the_inner_networks() {
        let dev = Device::flex();
        dev.seed(3);
        let cfg = PlainCnnConfig {
            image_size: 8,
            channels: vec![4, 8],
            ..PlainCnnConfig::fashion_mnist(true)
        };
        let bare = cfg.init(&dev).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.bpk");
        bare.clone().save_file(&p).unwrap();
        let wrapped = SmallNetConfig::from(cfg.clone())
            .init(&dev)
            .unwrap()
            .load_weights(&p)
            .unwrap();
        let x = Tensor::<4>::ones([1, 1, 8, 8], &dev);
        assert_eq!(
            wrapped
                .forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            bare.forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        );
        let q = dir.path().join("r.bpk");
        let rc = SmallResNetConfig {
            in_channels: 1,
            image_size: 8,
            base_width: 4,
            blocks_per_stage: vec![1, 1],
            num_classes: 10,
        };
        let r = SmallNetConfig::from(rc.clone()).init(&dev).unwrap();
        r.save_weights(&q).unwrap();
        let back = SmallNetConfig::from(rc)
            .init(&dev)
            .unwrap()
            .load_weights(&q)
            .unwrap();
        assert_eq!(
            r.forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            back.forward(x).into_data().try_to_vec::<f32>().unwrap()
        );
        // A ResNet file does not load into a plain CNN.
        assert!(SmallNetConfig::from(cfg)
            .init(&dev)
            .unwrap()
            .load_weights(&q)
            .is_err());
    }
}
