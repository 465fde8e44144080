//! Choosing, building and loading a model: `--model`, `--weights`, `--device`,
//! `--temperature`, `--sigma`; and running a generic task on whichever model was chosen.

use std::path::PathBuf;

use burn::tensor::Device;
use clap::{Args, ValueEnum};
use excitation::backend::BackendKind;
use excitation::classifier::Classifier;
use excitation::densenet::DenseNetConfig;
use excitation::download;
use excitation::gate::{GradientMode, Sigma};
use excitation::imagenet::classes;
use excitation::resnet::{BlockKind, ResNetConfig};
use excitation::vgg::VggConfig;

use crate::error::{CliError, Result};

/// The models `curtain` can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelName {
    /// torchvision ResNet50 (ImageNet, 1000 classes).
    #[value(name = "resnet50")]
    Resnet50,
    /// torchvision VGG11 with BatchNorm (ImageNet, 1000 classes).
    #[value(name = "vgg11_bn")]
    Vgg11Bn,
    /// torchvision DenseNet121 (ImageNet, 1000 classes).
    #[value(name = "densenet121")]
    Densenet121,
    /// Tiny ResNet (Bottleneck blocks, 10 classes), for tests and quick trials.
    #[value(name = "tiny-resnet")]
    TinyResnet,
    /// Tiny VGG with BatchNorm (10 classes), for tests and quick trials.
    #[value(name = "tiny-vgg")]
    TinyVgg,
    /// Tiny DenseNet (10 classes), for tests and quick trials.
    #[value(name = "tiny-densenet")]
    TinyDensenet,
}

impl ModelName {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelName::Resnet50 => "resnet50",
            ModelName::Vgg11Bn => "vgg11_bn",
            ModelName::Densenet121 => "densenet121",
            ModelName::TinyResnet => "tiny-resnet",
            ModelName::TinyVgg => "tiny-vgg",
            ModelName::TinyDensenet => "tiny-densenet",
        }
    }

    /// torchvision's checkpoint file name (the part after the last `-` is a SHA-256
    /// prefix), for the ImageNet models.
    pub fn torchvision_file(self) -> Option<&'static str> {
        match self {
            ModelName::Resnet50 => Some("resnet50-0676ba61.pth"),
            ModelName::Vgg11Bn => Some("vgg11_bn-6002323d.pth"),
            ModelName::Densenet121 => Some("densenet121-a639ec97.pth"),
            _ => None,
        }
    }
}

/// Where torchvision serves its checkpoints.
pub const TORCHVISION_BASE_URL: &str = "https://download.pytorch.org/models/";

/// Flags that choose and configure the model.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Network architecture. The ImageNet models need torchvision's weights (see
    /// `curtain weights fetch`); the tiny ones are small 10-class variants of the same code.
    #[arg(long, value_enum, default_value = "resnet50")]
    pub model: ModelName,

    /// Weight file: a torchvision checkpoint (.pth) or a .safetensors export with
    /// torchvision's key names. Default: the file `curtain weights fetch` put in the cache.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,

    /// Folder the cached weights are looked up in [default: $XDG_CACHE_HOME/curtain or
    /// ~/.cache/curtain].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compute device: `flex` (pure-Rust CPU, default), `ndarray` (CPU) or `wgpu` (GPU;
    /// needs a build with `--features wgpu`).
    #[arg(long, default_value = "flex", value_name = "DEVICE")]
    pub device: String,

    /// DenseNet only: keep the ReLU after `features.norm5` hard, as the paper's code does
    /// (torchvision applies it as a function, which the paper's module swap misses).
    #[arg(long)]
    pub paper_final_relu: bool,
}

impl ModelArgs {
    /// The device, or an error naming how to get it.
    pub fn backend(&self) -> Result<(BackendKind, Device)> {
        let kind = BackendKind::parse(&self.device).map_err(|_| {
            CliError::flag(
                "--device",
                format!(
                    "unknown device `{}`; use flex (CPU, default), ndarray (CPU) or wgpu (GPU)",
                    self.device
                ),
            )
        })?;
        let device = kind.try_device().map_err(|e| {
            let fix = if kind.is_available() {
                ": --device flex"
            } else {
                " (`cargo build --release --features wgpu`), or use --device flex"
            };
            CliError::flag("--device", format!("{e}{fix}"))
        })?;
        Ok((kind, device))
    }

    /// The cache folder (flag, or the default).
    pub fn cache_dir(&self) -> Result<PathBuf> {
        match &self.cache_dir {
            Some(d) => Ok(d.clone()),
            None => Ok(download::default_cache_dir()?),
        }
    }

    /// The weight file: `--weights`, or torchvision's file in the cache.
    pub fn weights_path(&self) -> Result<PathBuf> {
        if let Some(w) = &self.weights {
            if !w.is_file() {
                return Err(CliError::flag(
                    "--weights",
                    format!(
                        "`{}` is not a file; give the path of a .pth or .safetensors checkpoint",
                        w.display()
                    ),
                ));
            }
            return Ok(w.clone());
        }
        let name = self.model.name().to_string();
        match self.model.torchvision_file() {
            Some(file) => {
                let dir = self.cache_dir()?;
                let p = dir.join(file);
                if p.is_file() {
                    Ok(p)
                } else {
                    Err(CliError::NoWeights {
                        model: name.clone(),
                        hint: format!(
                            ", or download torchvision's with `curtain weights fetch {name}` \
                             (looked for `{}`)",
                            p.display()
                        ),
                    })
                }
            }
            None => Err(CliError::NoWeights {
                model: name,
                hint: "; tiny models have no published weights".into(),
            }),
        }
    }
}

/// Flags of the gradient: temperature and gate function.
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// Temperature T of the excitation gates σ(z/T) and of the soft max-pool. The paper
    /// uses 0.3; T in [0.15, 0.5] looks alike, T → 0 tends to the vanilla gradient.
    #[arg(
        long,
        default_value_t = 0.3,
        value_name = "T",
        allow_negative_numbers = true
    )]
    pub temperature: f64,

    /// Gate function σ: `sigmoid` (the paper), `normal-cdf` or `softsign`.
    #[arg(long, default_value = "sigmoid", value_name = "SIGMA")]
    pub sigma: String,
}

impl GateArgs {
    /// The excitation mode at `temperature` (checked).
    pub fn mode_at(&self, temperature: f64) -> Result<GradientMode> {
        let sigma = Sigma::parse(&self.sigma).map_err(|_| {
            CliError::flag(
                "--sigma",
                format!(
                    "unknown gate function `{}`; use sigmoid, normal-cdf or softsign",
                    self.sigma
                ),
            )
        })?;
        check_temperature("--temperature", temperature)?;
        Ok(GradientMode::excitation(sigma, temperature)?)
    }

    /// The excitation mode at `--temperature`.
    pub fn mode(&self) -> Result<GradientMode> {
        self.mode_at(self.temperature)
    }
}

/// A temperature must be finite and positive.
pub fn check_temperature(flag: &'static str, t: f64) -> Result<()> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(CliError::flag(
            flag,
            format!("temperature {t} is not a positive finite number; use e.g. 0.3 (the paper's)"),
        ))
    }
}

/// Which gradients to compute and draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GradientChoice {
    /// The plain input gradient ∇ₓ f_c(x).
    Vanilla,
    /// The excitation pullback (the paper's).
    Excitation,
    /// Both, and a figure comparing them row by row.
    Both,
}

impl GradientChoice {
    /// The modes to run, with their names: excitation first.
    pub fn modes(self, excitation: GradientMode) -> Vec<(&'static str, GradientMode)> {
        match self {
            GradientChoice::Vanilla => vec![("vanilla", GradientMode::Vanilla)],
            GradientChoice::Excitation => vec![("excitation", excitation)],
            GradientChoice::Both => vec![
                ("excitation", excitation),
                ("vanilla", GradientMode::Vanilla),
            ],
        }
    }
}

/// What is known about the loaded model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Its name.
    pub name: ModelName,
    /// The weight file loaded.
    pub weights: PathBuf,
    /// Number of classes.
    pub num_classes: usize,
    /// The device it runs on.
    pub backend: BackendKind,
    /// The plain device.
    pub device: Device,
}

impl ModelInfo {
    /// The display name of class `c`: ImageNet's for 1000-class models, `class c` otherwise.
    pub fn class_name(&self, c: usize) -> String {
        if self.num_classes == classes::NUM_CLASSES {
            classes::class_name(c).unwrap_or("?").to_string()
        } else {
            format!("class {c}")
        }
    }

    /// The target classes of `--classes`, or the default: the paper's set for ImageNet
    /// models, the first min(6, classes) classes otherwise.
    pub fn targets(&self, spec: Option<&str>) -> Result<Vec<usize>> {
        let list = match spec {
            Some(s) => classes::parse_class_list(s)
                .map_err(|e| CliError::flag("--classes", e.to_string()))?,
            None if self.num_classes == classes::NUM_CLASSES => classes::paper_default_targets(),
            None => (0..self.num_classes.min(6)).collect(),
        };
        if let Some(&c) = list.iter().find(|&&c| c >= self.num_classes) {
            return Err(CliError::flag(
                "--classes",
                format!(
                    "class {c} is out of range: `{}` has {} classes (0 to {})",
                    self.name.name(),
                    self.num_classes,
                    self.num_classes - 1
                ),
            ));
        }
        Ok(list)
    }
}

/// A piece of work that runs on any model type.
pub trait ModelTask {
    /// What it returns.
    type Output;
    /// Run on `model` (built on `info.device`, weights loaded, gradient mode vanilla).
    fn run<M: Classifier>(self, model: M, info: &ModelInfo) -> Result<Self::Output>;
}

/// Build the chosen model on the chosen device, load its weights, and run `task` on it.
pub fn with_model<T: ModelTask>(args: &ModelArgs, task: T) -> Result<T::Output> {
    let (backend, device) = args.backend()?;
    let weights = args.weights_path()?;
    let mode = GradientMode::Vanilla;
    let info = |num_classes| ModelInfo {
        name: args.model,
        weights: weights.clone(),
        num_classes,
        backend,
        device: device.clone(),
    };
    if args.paper_final_relu
        && !matches!(args.model, ModelName::Densenet121 | ModelName::TinyDensenet)
    {
        return Err(CliError::flag(
            "--paper-final-relu",
            "only DenseNets have the final functional ReLU; drop the flag for this model",
        ));
    }
    macro_rules! go {
        ($model:expr) => {{
            let mut m = $model;
            excitation::weights::load_weights(&mut m, &weights)?;
            let i = info(m.num_classes());
            task.run(m, &i)
        }};
    }
    match args.model {
        ModelName::Resnet50 => go!(ResNetConfig::resnet50().init(&device, mode)?),
        ModelName::TinyResnet => {
            go!(ResNetConfig::tiny(BlockKind::Bottleneck).init(&device, mode)?)
        }
        ModelName::Vgg11Bn => go!(VggConfig::vgg11_bn().init(&device, mode)?),
        ModelName::TinyVgg => go!(VggConfig::tiny(true).init(&device, mode)?),
        ModelName::Densenet121 => go!(DenseNetConfig::densenet121()
            .with_paper_compatible_final_relu(args.paper_final_relu)
            .init(&device, mode)?),
        ModelName::TinyDensenet => go!(DenseNetConfig::tiny()
            .with_paper_compatible_final_relu(args.paper_final_relu)
            .init(&device, mode)?),
    }
}
