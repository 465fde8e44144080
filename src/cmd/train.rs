//! `curtain train`: train a small plain CNN on Fashion-MNIST or CIFAR-10 with checkpoints
//! and automatic resume.

use std::path::PathBuf;

use excitation::data::{DatasetKind, Split};
use excitation::small_nets::{PlainCnnConfig, SmallNetConfig, SmallResNetConfig};
use excitation::train::{train, LrSchedule, OptimizerKind, TrainConfig};

use super::progress::Progress;
use super::CmdResult;

/// Arguments of `curtain train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Data set: `fashion-mnist` or `cifar10`.
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: String,
    /// Folder holding the data set [default: Debian's Fashion-MNIST folder if installed, else
    /// `data/fashion-mnist` or `data/cifar10`, where `curtain data fetch` puts them].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Run folder: config, checkpoints. An existing run there is resumed.
    #[arg(long)]
    pub run: PathBuf,
    /// Network: `plain` (VGG-style CNN, no skips) or `resnet` (the small ResNet: 3×3 stem,
    /// stages of BasicBlocks; always with BatchNorm).
    #[arg(long, default_value = "plain")]
    pub arch: String,
    /// Leave out BatchNorm (plain CNN only).
    #[arg(long)]
    pub no_bn: bool,
    /// `sgd` (momentum 0.9) or `adam`.
    #[arg(long, default_value = "sgd")]
    pub optimizer: String,
    /// Peak learning rate (default 0.05 for SGD, 1e-3 for Adam).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight decay.
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Total optimisation steps.
    #[arg(long, default_value_t = 1500)]
    pub steps: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Checkpoint interval.
    #[arg(long, default_value_t = 250)]
    pub checkpoint_every: usize,
    /// Extra checkpoint steps, comma separated (e.g. `10,25,50,100`).
    #[arg(long, value_delimiter = ',')]
    pub extra_checkpoints: Vec<usize>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop after this many steps in total (resume later with the same command).
    #[arg(long)]
    pub stop_at: Option<usize>,
    /// Test images evaluated at each checkpoint.
    #[arg(long, default_value_t = 1000)]
    pub eval_images: usize,
    /// Use only the first N training images.
    #[arg(long)]
    pub train_images: Option<usize>,
}

/// The default data folder of a data set: for Fashion-MNIST, Debian's folder when the
/// package is installed, otherwise where `curtain data fetch` puts it (`data/<name>`).
pub fn default_data_dir(kind: DatasetKind) -> PathBuf {
    let debian = PathBuf::from(excitation::data::FASHION_MNIST_DEFAULT_DIR);
    match kind {
        DatasetKind::FashionMnist if debian.join("t10k-labels-idx1-ubyte.gz").is_file() => debian,
        _ => super::data::default_fetch_dir(kind),
    }
}

/// Runs `curtain train`.
pub fn run(args: &TrainArgs) -> CmdResult {
    let kind = DatasetKind::parse(&args.dataset)?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir(kind));
    let mut train_data = kind.load(&dir, Split::Train)?;
    if let Some(n) = args.train_images {
        train_data = train_data.take(n);
    }
    let test_data = kind.load(&dir, Split::Test)?;
    let bn = !args.no_bn;
    let model: SmallNetConfig = match (args.arch.as_str(), kind) {
        ("plain", DatasetKind::FashionMnist) => PlainCnnConfig::fashion_mnist(bn).into(),
        ("plain", DatasetKind::Cifar10) => PlainCnnConfig::cifar10(bn).into(),
        ("resnet", _) if args.no_bn => {
            return Err("--no-bn is for the plain CNN; the ResNet always has BatchNorm".into())
        }
        ("resnet", DatasetKind::FashionMnist) => SmallResNetConfig::fashion_mnist().into(),
        ("resnet", DatasetKind::Cifar10) => SmallResNetConfig::cifar10().into(),
        (other, _) => {
            return Err(format!("unknown architecture `{other}`; use `plain` or `resnet`").into())
        }
    };
    let optimizer = match args.optimizer.as_str() {
        "sgd" => OptimizerKind::Sgd {
            momentum: 0.9,
            weight_decay: args.weight_decay,
        },
        "adam" => OptimizerKind::Adam {
            weight_decay: args.weight_decay,
        },
        other => return Err(format!("unknown optimizer `{other}`; use `sgd` or `adam`").into()),
    };
    let lr = args
        .lr
        .unwrap_or(if args.optimizer == "adam" { 1e-3 } else { 0.05 });
    let config = TrainConfig {
        model,
        optimizer,
        lr,
        schedule: LrSchedule::Cosine {
            warmup: (args.steps / 20).max(1),
        },
        batch_size: args.batch_size,
        steps: args.steps,
        checkpoint_every: args.checkpoint_every,
        extra_checkpoints: args.extra_checkpoints.clone(),
        seed: args.seed,
        crop_padding: kind.crop_padding(),
        flip: kind == DatasetKind::Cifar10,
        eval_images: args.eval_images,
    };
    eprintln!(
        "training {} on {} ({} training images) into {}",
        config.model.describe(),
        kind.name(),
        train_data.len(),
        args.run.display()
    );
    let device = excitation_device().autodiff();
    let mut bar = Progress::new(config.steps);
    let mut last_test = f64::NAN;
    let (mut ema_loss, mut ema_acc) = (f64::NAN, f64::NAN);
    let out = train(
        &config,
        &train_data,
        &test_data,
        &args.run,
        args.stop_at,
        &device,
        &mut |r| {
            if let Some(t) = r.test_accuracy {
                last_test = t;
            }
            let mix = |ema: f64, v: f64| {
                if ema.is_nan() {
                    v
                } else {
                    0.95 * ema + 0.05 * v
                }
            };
            ema_loss = mix(ema_loss, r.loss);
            ema_acc = mix(ema_acc, r.accuracy);
            bar.draw(
                r.step,
                &format!(
                    "loss {ema_loss:.3}  acc {ema_acc:.3}  test {last_test:.3}  lr {:.4}",
                    r.lr
                ),
            );
        },
    )?;
    bar.finish();
    if out.resumed_from > 0 {
        eprintln!("resumed from step {}", out.resumed_from);
    }
    println!(
        "{} steps done; checkpoints in {}",
        out.step,
        args.run.join("checkpoints").display()
    );
    Ok(())
}

/// The compute device: flex on the CPU (pure Rust, multi-threaded).
pub fn excitation_device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}
