//! `curtain ascent`: the paper's projected gradient ascent along excitation pullbacks
//! (or vanilla gradients) towards each target class, drawn as Figures 1, 3 and 4: the
//! perturbed images, and their differences from the original.

use burn::tensor::Tensor;
use clap::{Args, ValueEnum};
use excitation::ascent::{ascent_step, AscentConfig, AscentObjective};
use excitation::backend::tensor_to_vec;
use excitation::classifier::Classifier;
use excitation::gate::GradientMode;
use excitation::imagenet::images::{ImageSet, INPUT_SIZE};
use serde_json::{json, Value};

use crate::cmd::pullback::{capitalise, interleave_rows, with_original_column};
use crate::error::{CliError, Result};
use crate::inputs::{to_tensor, ImageArgs};
use crate::model::{with_model, GateArgs, GradientChoice, ModelArgs, ModelInfo, ModelTask};
use crate::outputs::{progress, write_grid, write_summary, GridOutput, OutputArgs};
use crate::predict::{logits, predictions, predictions_json, Predictions};

/// What the ascent increases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectiveChoice {
    /// The target logit (the paper's default).
    Logit,
    /// −cross-entropy of the target (`use_cross_entropy_loss`).
    CrossEntropy,
    /// ½‖logits‖², ignoring the targets (`self_explain`); one column.
    SelfExplain,
}

/// Projected gradient ascent towards target classes (the paper's Figures 1, 3, 4).
#[derive(Debug, Clone, Args)]
#[command(after_long_help = "\
Each step: g = gradient of the objective (excitation pullback or vanilla), x ← x + α·g/‖g‖,
then projection onto the L2 ball of radius ε around the original image and clamping to
[-1, 1], exactly as the paper's lib/pga.py. Defaults are the paper's: T = 0.3, α = 20,
ε = 100, 10 steps.

Examples:
  curtain ascent --images imagenette2/val --limit 5 --model resnet50 --steps 10
  curtain ascent --images dog.jpg --classes ostrich --gradient both --format svg

Writes into --out, for each gradient: ascent-<gradient>-images.png (perturbed images) and
ascent-<gradient>-diff.png (perturbed − original), with (--gradient both)
ascent-comparison-images.png / -diff.png, each with a .npy of the values drawn, and
summary.json (logits before and after, predicted classes after).")]
pub struct AscentArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub output: OutputArgs,

    /// Target classes, comma-separated ImageNet names or indices. Default: the paper's
    /// tench, cassette player, church, garbage truck, golf ball and ostrich.
    #[arg(long, value_name = "LIST")]
    pub classes: Option<String>,

    /// Which gradient the ascent follows.
    #[arg(long, value_enum, default_value = "both")]
    pub gradient: GradientChoice,

    /// Number of ascent steps.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub steps: usize,

    /// Step length α (L2 norm of each step before projection).
    #[arg(
        long,
        default_value_t = 20.0,
        value_name = "ALPHA",
        allow_negative_numbers = true
    )]
    pub alpha: f64,

    /// Radius ε of the L2 ball around the original image (a 224×224 RGB image in [-1, 1]
    /// has norm up to about 388).
    #[arg(
        long,
        default_value_t = 100.0,
        value_name = "EPS",
        allow_negative_numbers = true
    )]
    pub eps: f64,

    /// What the ascent increases.
    #[arg(long, value_enum, default_value = "logit")]
    pub objective: ObjectiveChoice,
}

impl AscentArgs {
    /// Run the command.
    pub fn run(self) -> Result<()> {
        let mode = self.gate.mode()?;
        if self.steps == 0 {
            return Err(CliError::flag(
                "--steps",
                "must be at least 1; the paper uses 10",
            ));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(CliError::flag(
                "--alpha",
                format!("{} is not a positive number; the paper uses 20", self.alpha),
            ));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(CliError::flag(
                "--eps",
                format!("{} is not a positive number; the paper uses 100", self.eps),
            ));
        }
        let set = self.images.load()?;
        self.output.prepare()?;
        let summary = with_model(
            &self.model,
            Task {
                args: &self,
                set: &set,
                mode,
            },
        )?;
        let path = write_summary(&self.output, &summary)?;
        eprintln!("wrote {}", path.display());
        Ok(())
    }

    fn config(&self) -> AscentConfig {
        AscentConfig {
            alpha: self.alpha,
            eps: Some(self.eps),
            steps: self.steps,
            objective: match self.objective {
                ObjectiveChoice::Logit => AscentObjective::TargetLogit,
                ObjectiveChoice::CrossEntropy => AscentObjective::CrossEntropy,
                ObjectiveChoice::SelfExplain => AscentObjective::SelfExplain,
            },
            ..AscentConfig::default()
        }
    }
}

struct Task<'a> {
    args: &'a AscentArgs,
    set: &'a ImageSet,
    mode: GradientMode,
}

/// Ascent of every image towards every class: `[n, k, 3, 224, 224]` final images.
#[allow(clippy::too_many_arguments)]
fn ascend_all<M: Classifier>(
    model: &M,
    info: &ModelInfo,
    images: &Tensor<4>,
    classes: &[usize],
    config: &AscentConfig,
    batch_size: usize,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<f32>> {
    let n = images.dims()[0];
    let k = classes.len();
    let cell = 3 * INPUT_SIZE * INPUT_SIZE;
    let ad = info.device.clone().autodiff();
    let mut out = vec![0f32; n * k * cell];
    for (j, &class) in classes.iter().enumerate() {
        let mut start = 0;
        while start < n {
            let end = (start + batch_size).min(n);
            let original = images.clone().slice(start..end);
            let targets = vec![class; end - start];
            let mut current = original.clone();
            for _ in 0..config.steps {
                let (next, _) =
                    ascent_step(model, original.clone(), current, &targets, config, &ad)?;
                current = next;
                bar.inc(1);
            }
            let v = tensor_to_vec(current)?;
            for (r, i) in (start..end).enumerate() {
                out[(i * k + j) * cell..(i * k + j + 1) * cell]
                    .copy_from_slice(&v[r * cell..(r + 1) * cell]);
            }
            start = end;
        }
    }
    Ok(out)
}

impl ModelTask for Task<'_> {
    type Output = Value;

    fn run<M: Classifier>(self, model: M, info: &ModelInfo) -> Result<Value> {
        let a = self.args;
        let classes = if a.objective == ObjectiveChoice::SelfExplain {
            vec![0] // ignored by the objective; one column
        } else {
            info.targets(a.classes.as_deref())?
        };
        let config = a.config();
        let n = self.set.images.len();
        let k = classes.len();
        let cell = 3 * INPUT_SIZE * INPUT_SIZE;
        let images = to_tensor(self.set, &info.device);
        let preds = predictions(&model, &images, a.images.batch_size)?;
        let modes = a.gradient.modes(self.mode);
        let chunks = n.div_ceil(a.images.batch_size);
        let bar = progress((modes.len() * k * chunks * a.steps) as u64, "ascent steps");
        let original = self.set.batch();
        let mut column_titles = vec!["image".to_string()];
        if a.objective == ObjectiveChoice::SelfExplain {
            column_titles.push("self-explain".into());
        } else {
            column_titles.extend(classes.iter().map(|&c| info.class_name(c)));
        }
        let row_labels: Vec<String> = self.set.images.iter().map(|i| i.name.clone()).collect();
        let mut figures = Vec::new();
        let mut per_mode = Vec::new();
        let mut results = serde_json::Map::new();
        for (name, mode) in &modes {
            let mut m = model.clone();
            m.set_gradient_mode(*mode)?;
            bar.set_message(format!("{name} ascent"));
            let finals = ascend_all(
                &m,
                info,
                &images,
                &classes,
                &config,
                a.images.batch_size,
                &bar,
            )?;
            let diffs: Vec<f32> = finals
                .iter()
                .enumerate()
                .map(|(idx, &v)| v - original[(idx / (k * cell)) * cell + idx % cell])
                .collect();
            let what = match mode.temperature() {
                Some(t) => format!("{} pullback, T = {t}", name),
                None => "vanilla gradient".to_string(),
            };
            let shape = [n, k + 1, 3, INPUT_SIZE, INPUT_SIZE];
            let img_grid = with_original_column(&original, &finals, n, k);
            let diff_grid = with_original_column(&original, &diffs, n, k);
            let params = format!("{} steps, α = {}, ε = {}", a.steps, a.alpha, a.eps);
            figures.push(write_grid(
                &a.output,
                &GridOutput {
                    stem: &format!("ascent-{name}-images"),
                    title: format!(
                        "{} ascent ({what}; {params}) — {}",
                        capitalise(name),
                        info.name.name()
                    ),
                    values: &img_grid,
                    shape,
                    column_titles: column_titles.clone(),
                    row_labels: row_labels.clone(),
                },
            )?);
            figures.push(write_grid(
                &a.output,
                &GridOutput {
                    stem: &format!("ascent-{name}-diff"),
                    title: format!(
                        "Perturbation − original ({what}; {params}) — {}",
                        info.name.name()
                    ),
                    values: &diff_grid,
                    shape,
                    column_titles: column_titles.clone(),
                    row_labels: row_labels.clone(),
                },
            )?);
            // Logits of the perturbed images.
            let finals_t = Tensor::<4>::from_data(
                burn::tensor::TensorData::new(finals.clone(), [n * k, 3, INPUT_SIZE, INPUT_SIZE]),
                &info.device,
            );
            let after = Predictions {
                logits: logits(&model, &finals_t, a.images.batch_size)?,
                num_classes: info.num_classes,
            };
            let mut rows = Vec::new();
            for i in 0..n {
                for (j, &c) in classes.iter().enumerate() {
                    let r = i * k + j;
                    let before = preds.logits[i * info.num_classes + c];
                    let after_logit = after.logits[r * info.num_classes + c];
                    let (top, top_logit) = after.top(r, 1)[0];
                    let delta: f64 = diffs[r * cell..(r + 1) * cell]
                        .iter()
                        .map(|&d| (d as f64) * (d as f64))
                        .sum::<f64>()
                        .sqrt();
                    rows.push(json!({
                        "image": self.set.images[i].name,
                        "target": c,
                        "target_name": info.class_name(c),
                        "target_logit_before": before,
                        "target_logit_after": after_logit,
                        "predicted_after": top,
                        "predicted_after_name": info.class_name(top),
                        "predicted_after_logit": top_logit,
                        "perturbation_l2": delta,
                    }));
                }
            }
            results.insert(name.to_string(), Value::Array(rows));
            per_mode.push((name.to_string(), img_grid, diff_grid));
        }
        bar.finish_and_clear();
        if per_mode.len() == 2 {
            let labels: Vec<String> = row_labels
                .iter()
                .flat_map(|r| {
                    [
                        format!("{r} · {}", per_mode[0].0),
                        format!("{r} · {}", per_mode[1].0),
                    ]
                })
                .collect();
            for (suffix, pick) in [("images", 1usize), ("diff", 2)] {
                let g = |p: &(String, Vec<f32>, Vec<f32>)| -> Vec<f32> {
                    if pick == 1 {
                        p.1.clone()
                    } else {
                        p.2.clone()
                    }
                };
                let (g0, g1) = (g(&per_mode[0]), g(&per_mode[1]));
                let both = interleave_rows(&[&g0, &g1], n, k + 1);
                figures.push(write_grid(
                    &a.output,
                    &GridOutput {
                        stem: &format!("ascent-comparison-{suffix}"),
                        title: format!(
                            "Ascent {}: excitation (T = {}) vs vanilla — {}",
                            if pick == 1 { "images" } else { "differences" },
                            a.gate.temperature,
                            info.name.name()
                        ),
                        values: &both,
                        shape: [2 * n, k + 1, 3, INPUT_SIZE, INPUT_SIZE],
                        column_titles: column_titles.clone(),
                        row_labels: labels.clone(),
                    },
                )?);
            }
        }
        for f in &figures {
            eprintln!("wrote {}", f["figure"].as_str().unwrap_or_default());
        }
        Ok(json!({
            "command": "ascent",
            "model": info.name.name(),
            "weights": info.weights,
            "device": info.backend.name(),
            "temperature": a.gate.temperature,
            "sigma": a.gate.sigma,
            "gradient": format!("{:?}", a.gradient).to_lowercase(),
            "steps": a.steps,
            "alpha": a.alpha,
            "eps": a.eps,
            "objective": format!("{:?}", a.objective).to_lowercase(),
            "classes": classes.iter().map(|&c| json!({"class": c, "name": info.class_name(c)})).collect::<Vec<_>>(),
            "images": predictions_json(self.set, &preds, info),
            "results": results,
            "skipped": self.set.skipped.iter().map(|(p, why)| json!({"path": p, "reason": why})).collect::<Vec<_>>(),
            "figures": figures,
        }))
    }
}
