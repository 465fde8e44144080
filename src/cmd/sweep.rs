//! `curtain sweep`: one class's excitation pullback over a range of temperatures, in one
//! figure (rows are images; columns the image, T₁ … T_m, and the vanilla gradient), plus
//! a curve of how close each temperature's pullback is to the vanilla gradient and to the
//! paper's T = 0.3. The paper claims T in [0.15, 0.5] looks alike and T → 0 becomes the
//! vanilla gradient (slowly: still a few % apart at T = 1e-4).

use clap::Args;
use excitation::backend::tensor_to_vec;
use excitation::classifier::Classifier;
use excitation::gate::GradientMode;
use excitation::imagenet::classes::parse_class;
use excitation::imagenet::images::{ImageSet, INPUT_SIZE};
use excitation::pullback::{pullback, Targets};
use figures::{draw_line_plot, LinePlot, Series};
use serde_json::{json, Value};

use crate::error::{CliError, Result};
use crate::inputs::{to_tensor, ImageArgs};
use crate::model::{check_temperature, with_model, GateArgs, ModelArgs, ModelInfo, ModelTask};
use crate::outputs::{progress, write_grid, write_summary, GridOutput, OutputArgs};
use crate::predict::{predictions, predictions_json};

/// Default temperatures of the sweep.
pub const DEFAULT_TEMPERATURES: &str = "0.01,0.03,0.1,0.15,0.3,0.5,1,3";

/// A temperature sweep of excitation pullbacks.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = "\
Examples:
  curtain sweep --images imagenette2/val/n03445777 --limit 2 --class 'golf ball'
  curtain sweep --images dog.jpg --temperatures 0.001,0.01,0.1,0.3,1,10

Writes into --out: sweep.png (and sweep.npy, [rows, 1 + temperatures + 1, 3, 224, 224]),
sweep-similarity.png (cosine similarity of each T's pullback to the vanilla gradient and
to the pullback at the reference temperature, mean over images, log-scale T), and
summary.json with those numbers per image.")]
pub struct SweepArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub output: OutputArgs,

    /// The class whose logit is pulled back (name or index). Default: each image's
    /// predicted class.
    #[arg(long, value_name = "CLASS")]
    pub class: Option<String>,

    /// Comma-separated temperatures, e.g. `0.01,0.1,0.3,1,3`.
    #[arg(long, default_value = DEFAULT_TEMPERATURES, value_name = "LIST")]
    pub temperatures: String,
}

impl SweepArgs {
    /// The temperatures, checked and sorted.
    pub fn temperature_list(&self) -> Result<Vec<f64>> {
        let mut ts = Vec::new();
        for item in self.temperatures.split(',') {
            let t: f64 = item.trim().parse().map_err(|_| {
                CliError::flag(
                    "--temperatures",
                    format!("`{item}` is not a number; give a comma-separated list such as {DEFAULT_TEMPERATURES}"),
                )
            })?;
            check_temperature("--temperatures", t)?;
            ts.push(t);
        }
        ts.sort_by(f64::total_cmp);
        ts.dedup();
        Ok(ts)
    }

    /// Run the command.
    pub fn run(self) -> Result<()> {
        let temperatures = self.temperature_list()?;
        self.gate.mode()?;
        let set = self.images.load()?;
        self.output.prepare()?;
        let summary = with_model(
            &self.model,
            Task {
                args: &self,
                set: &set,
                temperatures,
            },
        )?;
        let path = write_summary(&self.output, &summary)?;
        eprintln!("wrote {}", path.display());
        Ok(())
    }
}

struct Task<'a> {
    args: &'a SweepArgs,
    set: &'a ImageSet,
    temperatures: Vec<f64>,
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        ab += x as f64 * y as f64;
        aa += x as f64 * x as f64;
        bb += y as f64 * y as f64;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

impl ModelTask for Task<'_> {
    type Output = Value;

    fn run<M: Classifier>(self, model: M, info: &ModelInfo) -> Result<Value> {
        let a = self.args;
        let n = self.set.images.len();
        let cell = 3 * INPUT_SIZE * INPUT_SIZE;
        let images = to_tensor(self.set, &info.device);
        let preds = predictions(&model, &images, a.images.batch_size)?;
        let targets: Vec<usize> = match &a.class {
            Some(spec) => {
                let c = parse_class(spec).map_err(|e| CliError::flag("--class", e.to_string()))?;
                if c >= info.num_classes {
                    return Err(CliError::flag(
                        "--class",
                        format!(
                            "class {c} is out of range: the model has {} classes",
                            info.num_classes
                        ),
                    ));
                }
                vec![c; n]
            }
            None => (0..n).map(|i| preds.top(i, 1)[0].0).collect(),
        };
        let reference = a.gate.temperature;
        let mut temps = self.temperatures.clone();
        let extra_reference = !temps.contains(&reference);
        if extra_reference {
            temps.push(reference);
        }
        let mut modes: Vec<GradientMode> = temps
            .iter()
            .map(|&t| a.gate.mode_at(t))
            .collect::<Result<_>>()?;
        modes.push(GradientMode::Vanilla);
        let ad = info.device.clone().autodiff();
        let bar = progress(modes.len() as u64, "temperatures");
        let mut columns: Vec<Vec<f32>> = Vec::new();
        for mode in &modes {
            let mut m = model.clone();
            m.set_gradient_mode(*mode)?;
            let p = pullback(
                &m,
                images.clone(),
                &Targets::PerImage(targets.clone()),
                a.images.batch_size,
                &ad,
            )?;
            columns.push(tensor_to_vec(p.gradients)?);
            bar.inc(1);
        }
        bar.finish_and_clear();
        let vanilla = columns.last().expect("vanilla column").clone();
        let ref_col = columns[temps
            .iter()
            .position(|&t| t == reference)
            .expect("reference included")]
        .clone();
        let shown = self.temperatures.len();
        // Grid: image | T_1 … T_m | vanilla.
        let cols = shown + 2;
        let original = self.set.batch();
        let mut grid = Vec::with_capacity(n * cols * cell);
        for i in 0..n {
            grid.extend_from_slice(&original[i * cell..(i + 1) * cell]);
            for col in columns.iter().take(shown) {
                grid.extend_from_slice(&col[i * cell..(i + 1) * cell]);
            }
            grid.extend_from_slice(&vanilla[i * cell..(i + 1) * cell]);
        }
        let mut column_titles = vec!["image".to_string()];
        column_titles.extend(self.temperatures.iter().map(|t| format!("T = {t}")));
        column_titles.push("vanilla".into());
        let row_labels: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "{} → {}",
                    self.set.images[i].name,
                    info.class_name(targets[i])
                )
            })
            .collect();
        let mut figures = vec![write_grid(
            &a.output,
            &GridOutput {
                stem: "sweep",
                title: format!(
                    "Excitation pullback across temperatures ({}) — {}",
                    a.gate.sigma,
                    info.name.name()
                ),
                values: &grid,
                shape: [n, cols, 3, INPUT_SIZE, INPUT_SIZE],
                column_titles,
                row_labels,
            },
        )?];
        // Similarities, per image and mean.
        let mut to_vanilla = vec![vec![0f64; shown]; n];
        let mut to_reference = vec![vec![0f64; shown]; n];
        for i in 0..n {
            for (t, col) in columns.iter().take(shown).enumerate() {
                let g = &col[i * cell..(i + 1) * cell];
                to_vanilla[i][t] = cosine(g, &vanilla[i * cell..(i + 1) * cell]);
                to_reference[i][t] = cosine(g, &ref_col[i * cell..(i + 1) * cell]);
            }
        }
        let mean = |m: &Vec<Vec<f64>>| -> Vec<f64> {
            (0..shown)
                .map(|t| m.iter().map(|r| r[t]).sum::<f64>() / n as f64)
                .collect()
        };
        let mut plot = LinePlot::new(
            format!(
                "Pullback similarity across temperatures — {} ({})",
                info.name.name(),
                if n == 1 {
                    "1 image".to_string()
                } else {
                    format!("mean of {n} images")
                }
            ),
            "temperature T",
            "cosine similarity",
        )
        .with_series(Series::new(
            "to the vanilla gradient",
            self.temperatures.clone(),
            mean(&to_vanilla),
        ))
        .with_series(Series::new(
            format!("to the pullback at T = {reference}"),
            self.temperatures.clone(),
            mean(&to_reference),
        ));
        plot.log_x = true;
        let format = a.output.figure_format();
        let curve = a
            .output
            .out
            .join(format!("sweep-similarity.{}", format.extension()));
        draw_line_plot(&plot, &curve, format)?;
        figures.push(json!({"figure": curve}));
        for f in &figures {
            eprintln!("wrote {}", f["figure"].as_str().unwrap_or_default());
        }
        let mut images_json = predictions_json(self.set, &preds, info);
        for (i, img) in images_json.iter_mut().enumerate() {
            img["target"] = json!({"class": targets[i], "name": info.class_name(targets[i])});
            img["cosine_to_vanilla"] = json!(to_vanilla[i]);
            img["cosine_to_reference"] = json!(to_reference[i]);
        }
        Ok(json!({
            "command": "sweep",
            "model": info.name.name(),
            "weights": info.weights,
            "device": info.backend.name(),
            "sigma": a.gate.sigma,
            "temperatures": self.temperatures,
            "reference_temperature": reference,
            "mean_cosine_to_vanilla": mean(&to_vanilla),
            "mean_cosine_to_reference": mean(&to_reference),
            "images": images_json,
            "skipped": self.set.skipped.iter().map(|(p, why)| json!({"path": p, "reason": why})).collect::<Vec<_>>(),
            "figures": figures,
        }))
    }
}
