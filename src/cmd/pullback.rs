//! `curtain pullback`: excitation pullbacks (and/or vanilla gradients) of target logits,
//! drawn as the paper's Figure 2 — rows are images, the first column the image itself,
//! then one column per target class, each cell min–max normalised on its own.

use burn::tensor::Tensor;
use clap::Args;
use excitation::backend::tensor_to_vec;
use excitation::classifier::Classifier;
use excitation::imagenet::images::{ImageSet, INPUT_SIZE};
use excitation::pullback::{pullback, Targets};
use serde_json::{json, Value};

use crate::error::Result;
use crate::inputs::{to_tensor, ImageArgs};
use crate::model::{with_model, GateArgs, GradientChoice, ModelArgs, ModelInfo, ModelTask};
use crate::outputs::{progress, write_grid, write_summary, GridOutput, OutputArgs};
use crate::predict::{predictions, predictions_json};

/// Excitation pullbacks of target logits (the paper's Figure 2).
#[derive(Debug, Clone, Args)]
#[command(after_long_help = "\
Examples:
  curtain pullback --images imagenette2/val --limit 5 --model resnet50
  curtain pullback --images dog.jpg --classes 'golf ball,9' --gradient excitation --temperature 0.5

Writes into --out: pullback-excitation.png, pullback-vanilla.png and (with --gradient both)
pullback-comparison.png, each with a .npy of the values drawn ([rows, cols, 3, 224, 224]),
and summary.json (top-5 predictions and target logits of every image).")]
pub struct PullbackArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub output: OutputArgs,

    /// Target classes, comma-separated ImageNet names or indices (e.g. `tench,482,golf
    /// ball`). Default: the paper's tench, cassette player, church, garbage truck, golf
    /// ball and ostrich.
    #[arg(long, value_name = "LIST")]
    pub classes: Option<String>,

    /// Which gradient to draw.
    #[arg(long, value_enum, default_value = "both")]
    pub gradient: GradientChoice,
}

impl PullbackArgs {
    /// Run the command.
    pub fn run(self) -> Result<()> {
        let mode = self.gate.mode()?;
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
}

struct Task<'a> {
    args: &'a PullbackArgs,
    set: &'a ImageSet,
    mode: excitation::gate::GradientMode,
}

/// Pullbacks of every (image, class) pair under `mode`, as `[n, k, 3, 224, 224]` values.
pub fn pullback_values<M: Classifier>(
    model: &M,
    info: &ModelInfo,
    images: &Tensor<4>,
    classes: &[usize],
    batch_size: usize,
    bar: &indicatif::ProgressBar,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let n = images.dims()[0];
    let ad = info.device.clone().autodiff();
    let per_chunk = (batch_size / classes.len()).max(1);
    let mut values = Vec::new();
    let mut logits = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + per_chunk).min(n);
        let chunk = images.clone().slice(start..end);
        let p = pullback(
            model,
            chunk,
            &Targets::EachOf(classes.to_vec()),
            batch_size,
            &ad,
        )?;
        values.extend(tensor_to_vec(p.gradients)?);
        logits.extend(p.target_logits);
        bar.inc((end - start) as u64);
        start = end;
    }
    Ok((values, logits))
}

/// `[n, k, c·h·w]` columns behind an original-image column → `[n, k + 1, c·h·w]`.
pub fn with_original_column(original: &[f32], columns: &[f32], n: usize, k: usize) -> Vec<f32> {
    let cell = 3 * INPUT_SIZE * INPUT_SIZE;
    let mut out = Vec::with_capacity(n * (k + 1) * cell);
    for i in 0..n {
        out.extend_from_slice(&original[i * cell..(i + 1) * cell]);
        out.extend_from_slice(&columns[i * k * cell..(i + 1) * k * cell]);
    }
    out
}

/// Interleave rows of several grids of the same shape `[n, cols, cell]`: row i of grid 0,
/// row i of grid 1, … (the side-by-side comparison figure).
pub fn interleave_rows(grids: &[&[f32]], n: usize, cols: usize) -> Vec<f32> {
    let row = cols * 3 * INPUT_SIZE * INPUT_SIZE;
    let mut out = Vec::with_capacity(grids.len() * n * row);
    for i in 0..n {
        for g in grids {
            out.extend_from_slice(&g[i * row..(i + 1) * row]);
        }
    }
    out
}

impl ModelTask for Task<'_> {
    type Output = Value;

    fn run<M: Classifier>(self, model: M, info: &ModelInfo) -> Result<Value> {
        let a = self.args;
        let classes = info.targets(a.classes.as_deref())?;
        let n = self.set.images.len();
        let k = classes.len();
        let images = to_tensor(self.set, &info.device);
        let preds = predictions(&model, &images, a.images.batch_size)?;
        let modes = a.gradient.modes(self.mode);
        let bar = progress((n * modes.len()) as u64, "pullbacks");
        let original = self.set.batch();
        let mut column_titles = vec!["image".to_string()];
        column_titles.extend(classes.iter().map(|&c| info.class_name(c)));
        let row_labels: Vec<String> = self.set.images.iter().map(|i| i.name.clone()).collect();
        let mut figures = Vec::new();
        let mut grids: Vec<(String, Vec<f32>)> = Vec::new();
        let mut target_logits = Vec::new();
        for (name, mode) in &modes {
            let mut m = model.clone();
            m.set_gradient_mode(*mode)?;
            bar.set_message(format!("{name} pullbacks"));
            let (values, logits) =
                pullback_values(&m, info, &images, &classes, a.images.batch_size, &bar)?;
            target_logits = logits;
            let grid = with_original_column(&original, &values, n, k);
            let title = match mode.temperature() {
                Some(t) => format!(
                    "{} pullbacks — {}, T = {t}",
                    capitalise(name),
                    info.name.name()
                ),
                None => format!("Vanilla gradients — {}", info.name.name()),
            };
            figures.push(write_grid(
                &a.output,
                &GridOutput {
                    stem: &format!("pullback-{name}"),
                    title,
                    values: &grid,
                    shape: [n, k + 1, 3, INPUT_SIZE, INPUT_SIZE],
                    column_titles: column_titles.clone(),
                    row_labels: row_labels.clone(),
                },
            )?);
            grids.push((name.to_string(), grid));
        }
        bar.finish_and_clear();
        if grids.len() == 2 {
            let both = interleave_rows(&[&grids[0].1, &grids[1].1], n, k + 1);
            let labels: Vec<String> = row_labels
                .iter()
                .flat_map(|r| {
                    [
                        format!("{r} · {}", grids[0].0),
                        format!("{r} · {}", grids[1].0),
                    ]
                })
                .collect();
            figures.push(write_grid(
                &a.output,
                &GridOutput {
                    stem: "pullback-comparison",
                    title: format!(
                        "Excitation pullback (T = {}) vs vanilla gradient — {}",
                        a.gate.temperature,
                        info.name.name()
                    ),
                    values: &both,
                    shape: [2 * n, k + 1, 3, INPUT_SIZE, INPUT_SIZE],
                    column_titles,
                    row_labels: labels,
                },
            )?);
        }
        for f in &figures {
            eprintln!("wrote {}", f["figure"].as_str().unwrap_or_default());
        }
        let mut images_json = predictions_json(self.set, &preds, info);
        for (i, img) in images_json.iter_mut().enumerate() {
            img["target_logits"] = classes
                .iter()
                .enumerate()
                .map(|(j, &c)| json!({"class": c, "name": info.class_name(c), "logit": target_logits[i * k + j]}))
                .collect();
        }
        Ok(json!({
            "command": "pullback",
            "model": info.name.name(),
            "weights": info.weights,
            "device": info.backend.name(),
            "temperature": a.gate.temperature,
            "sigma": a.gate.sigma,
            "gradient": format!("{:?}", a.gradient).to_lowercase(),
            "classes": classes.iter().map(|&c| json!({"class": c, "name": info.class_name(c)})).collect::<Vec<_>>(),
            "images": images_json,
            "skipped": self.set.skipped.iter().map(|(p, why)| json!({"path": p, "reason": why})).collect::<Vec<_>>(),
            "figures": figures,
        }))
    }
}

/// `excitation` → `Excitation`.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
