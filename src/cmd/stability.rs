//! `curtain stability measure|plot`: gate-stability measurements over a run's checkpoints
//! (numbers first, CSV/JSON), and figures drawn from those numbers.

use std::path::PathBuf;

use burn::module::Module;
use excitation::data::{DatasetKind, Split};
use excitation::small_nets::explain::AscentConfig;
use excitation::stability::experiment::{measure_run, StabilityConfig};
use excitation::stability::frozen_retrain::RetrainConfig;
use excitation::train::{list_checkpoints, load_model, OptimizerKind, TrainConfig};

use super::CmdResult;

/// `curtain stability …`.
#[derive(clap::Subcommand, Debug)]
pub enum StabilityCmd {
    /// Measure a training run's checkpoints and write CSV/JSON.
    Measure(MeasureArgs),
    /// Draw the figures from the numbers a `measure` wrote.
    Plot(PlotArgs),
    /// Pullback and ascent grids (excitation against vanilla gradient) of a trained
    /// checkpoint on test images.
    Explain(ExplainArgs),
}

/// Arguments of `curtain stability explain`.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// Run folder written by `curtain train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Output folder for `pullbacks.png`, `ascent.png` and `explain.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// Checkpoint step to explain (default: the last one).
    #[arg(long)]
    pub checkpoint: Option<usize>,
    /// Data set the run was trained on.
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: String,
    /// Data folder.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Number of test images (the first N of the test split, from --first on).
    #[arg(long, default_value_t = 8)]
    pub images: usize,
    /// Index of the first test image.
    #[arg(long, default_value_t = 0)]
    pub first: usize,
    /// Temperature T of the excitation σ(z/T).
    #[arg(long, default_value_t = 0.3, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Ascent steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Ascent step length (L2).
    #[arg(long, default_value_t = 1.5)]
    pub alpha: f64,
    /// Ascent radius ε (L2).
    #[arg(long, default_value_t = 7.0)]
    pub eps: f64,
}

/// Arguments of `curtain stability measure`.
#[derive(clap::Args, Debug)]
pub struct MeasureArgs {
    /// Run folder written by `curtain train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Output folder for the CSV/JSON files.
    #[arg(long)]
    pub out: PathBuf,
    /// Data set the run was trained on.
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: String,
    /// Data folder.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Probe images (the first N test images).
    #[arg(long, default_value_t = 1000)]
    pub probe: usize,
    /// Training images for the kernel machines.
    #[arg(long, default_value_t = 1000)]
    pub kernel_train: usize,
    /// Test images for the kernel machines.
    #[arg(long, default_value_t = 500)]
    pub kernel_test: usize,
    /// Temperatures for ρ(Γ̃, G̃), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.3,1.0")]
    pub temperatures: Vec<f32>,
    /// Ridge of the kernel machines.
    #[arg(long, default_value_t = 1e-2)]
    pub ridge: f64,
    /// Checkpoint indices for the kernel machines (default: all).
    #[arg(long, value_delimiter = ',')]
    pub kernel_checkpoints: Vec<usize>,
    /// Steps of each frozen-gate retraining (0 = skip).
    #[arg(long, default_value_t = 300)]
    pub retrain_steps: usize,
    /// Checkpoint indices whose gates are retrained on (default: all).
    #[arg(long, value_delimiter = ',')]
    pub retrain_checkpoints: Vec<usize>,
}

/// Arguments of `curtain stability plot`.
#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// Folders written by `measure` (one per variant), each as `label=path`.
    #[arg(long = "variant", required = true)]
    pub variants: Vec<String>,
    /// Folder for the figures.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `curtain stability …`.
pub fn run(cmd: &StabilityCmd) -> CmdResult {
    match cmd {
        StabilityCmd::Measure(a) => measure(a),
        StabilityCmd::Plot(a) => super::stability_plot::plot(a),
        StabilityCmd::Explain(a) => explain(a),
    }
}

fn measure(a: &MeasureArgs) -> CmdResult {
    let kind = DatasetKind::parse(&a.dataset)?;
    let dir = a
        .data_dir
        .clone()
        .unwrap_or_else(|| super::train::default_data_dir(kind));
    let train_data = kind.load(&dir, Split::Train)?;
    let test_data = kind.load(&dir, Split::Test)?;
    let cfg = StabilityConfig {
        probe_images: a.probe,
        kernel_train: a.kernel_train,
        kernel_test: a.kernel_test,
        temperatures: a.temperatures.clone(),
        ridge: a.ridge,
        kernel_checkpoints: a.kernel_checkpoints.clone(),
        retrain: (a.retrain_steps > 0).then_some(RetrainConfig {
            steps: a.retrain_steps,
            batch_size: 64,
            lr: 0.05,
            optimizer: OptimizerKind::Sgd {
                momentum: 0.9,
                weight_decay: 5e-4,
            },
            seed: 1234,
        }),
        retrain_checkpoints: a.retrain_checkpoints.clone(),
        batch: 250,
        threshold: 0.9,
    };
    let infer = super::train::excitation_device();
    let train_dev = infer.clone().autodiff();
    let start = std::time::Instant::now();
    let summary = measure_run(
        &a.run,
        &train_data,
        &test_data,
        &cfg,
        &a.out,
        &infer,
        &train_dev,
        &mut |m| eprintln!("[{:>6.1}s] {m}", start.elapsed().as_secs_f64()),
    )?;
    println!(
        "measured {} checkpoints (steps {:?}); t_pi = {:?}; numbers in {}",
        summary.steps.len(),
        summary.steps,
        summary.t_pi_step,
        a.out.display()
    );
    Ok(())
}

fn explain(a: &ExplainArgs) -> CmdResult {
    if !(a.temperature > 0.0 && a.temperature.is_finite()) {
        return Err(format!("temperature {} must be positive", a.temperature).into());
    }
    if a.images == 0 {
        return Err("--images must be at least 1".into());
    }
    let kind = DatasetKind::parse(&a.dataset)?;
    let cfg_path = a.run.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| {
        format!(
            "cannot read `{}` ({e}); is --run a folder written by `curtain train`?",
            cfg_path.display()
        )
    })?;
    let tc: TrainConfig =
        serde_json::from_str(&text).map_err(|e| format!("`{}`: {e}", cfg_path.display()))?;
    let cks = list_checkpoints(&a.run)?;
    let ck = match a.checkpoint {
        None => cks.last(),
        Some(step) => cks.iter().find(|c| c.step == step),
    }
    .ok_or_else(|| {
        let steps: Vec<usize> = cks.iter().map(|c| c.step).collect();
        format!(
            "no checkpoint {:?} in `{}` (it has steps {steps:?})",
            a.checkpoint,
            a.run.display()
        )
    })?;
    let dir = a
        .data_dir
        .clone()
        .unwrap_or_else(|| super::train::default_data_dir(kind));
    let test = kind.load(&dir, Split::Test)?;
    if a.first + a.images > test.len() {
        return Err(format!(
            "images {}..{} requested, the test split has {}",
            a.first,
            a.first + a.images,
            test.len()
        )
        .into());
    }
    let idx: Vec<usize> = (a.first..a.first + a.images).collect();
    let dev = super::train::excitation_device().autodiff();
    let model = load_model(&tc.model, &ck.dir, &dev)?.freeze();
    let batch = test.batch(&idx, None, &dev);
    let labels: Vec<u8> = idx.iter().map(|&i| test.labels[i]).collect();
    let classes: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
    let paths = super::demo::explain_to_files(
        &model,
        batch.images,
        &labels,
        &classes,
        test.class_names,
        a.temperature,
        &AscentConfig {
            alpha: a.alpha,
            steps: a.steps,
            eps: a.eps,
        },
        &a.out,
        "explain.json",
    )?;
    println!(
        "checkpoint step {} of {}, test images {}..{}:",
        ck.step,
        a.run.display(),
        a.first,
        a.first + a.images
    );
    super::demo::print_outputs(&paths);
    Ok(())
}
