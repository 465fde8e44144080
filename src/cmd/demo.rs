//! `curtain demo`: the built-in small CNN trained on Fashion-MNIST (weights and eight
//! test images embedded in the binary, see `assets/demo/README.md`) explains its decisions
//! with excitation pullbacks against vanilla gradients, and with projected gradient ascent
//! along each. No download, a few seconds on a CPU.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use excitation::backend::tensor_to_vec;
use excitation::data::idx::parse_idx;
use excitation::data::{images_to_tensor, FASHION_MNIST_CLASSES};
use excitation::small_nets::explain::{ascent, pullback, AscentConfig};
use excitation::small_nets::{GateMode, GatedNetwork, PlainCnnConfig};
use excitation::train::export::import_safetensors;
use figures::{draw_image_grid, Format, ImageGrid};

use super::CmdResult;

const MODEL: &[u8] = include_bytes!("../../assets/demo/model.safetensors");
const CONFIG: &str = include_str!("../../assets/demo/config.json");
const IMAGES: &[u8] = include_bytes!("../../assets/demo/images-idx3-ubyte");
const LABELS: &[u8] = include_bytes!("../../assets/demo/labels-idx1-ubyte");

/// Arguments of `curtain demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for the figures and numbers.
    #[arg(long, default_value = "curtain-demo")]
    pub out: PathBuf,
    /// Temperature T of the excitation σ(z/T) (the paper's 0.3).
    #[arg(long, default_value_t = 0.3, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Explain this class for every image (default: each image's true class).
    #[arg(long)]
    pub target: Option<usize>,
    /// Ascent steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Ascent step length (L2).
    #[arg(long, default_value_t = 1.5)]
    pub alpha: f64,
    /// Ascent radius ε (L2), about a third of a typical image's norm.
    #[arg(long, default_value_t = 7.0)]
    pub eps: f64,
}

/// Prints where [`explain_to_files`] wrote its pullback grid, ascent grid and numbers.
pub(super) fn print_outputs([pullbacks, ascent, numbers]: &[PathBuf; 3]) {
    println!(
        "  pullbacks (image | gradient | excitation pullback): {}",
        pullbacks.display()
    );
    println!(
        "  ascent    (image | along gradient | along excitation): {}",
        ascent.display()
    );
    println!("  numbers: {}", numbers.display());
}

/// Runs `curtain demo`.
pub fn run(a: &DemoArgs) -> CmdResult {
    if !(a.temperature > 0.0 && a.temperature.is_finite()) {
        return Err(format!("temperature {} must be positive", a.temperature).into());
    }
    let start = std::time::Instant::now();
    let cfg: PlainCnnConfig = serde_json::from_str(CONFIG)?;
    let dev = Device::flex().autodiff();
    let model = import_safetensors(&cfg, MODEL, &dev)?.freeze();
    let (dims, pixels) = parse_idx(IMAGES)?;
    let (_, labels) = parse_idx(LABELS)?;
    let (n, h, w) = (dims[0], dims[1], dims[2]);
    let x = images_to_tensor(&pixels, n, 1, h, w, &dev);
    let classes: Vec<usize> = match a.target {
        Some(c) if c >= 10 => return Err(format!("target class {c} out of range 0..10").into()),
        Some(c) => vec![c; n],
        None => labels.iter().map(|&l| l as usize).collect(),
    };
    let paths = explain_to_files(
        &model,
        x,
        &labels,
        &classes,
        FASHION_MNIST_CLASSES,
        a.temperature,
        &AscentConfig {
            alpha: a.alpha,
            steps: a.steps,
            eps: a.eps,
        },
        &a.out,
        "demo.json",
    )?;
    println!(
        "curtain demo: built-in Fashion-MNIST CNN ({} conv blocks, BatchNorm), {n} test images",
        cfg.channels.len()
    );
    print_outputs(&paths);
    println!("  done in {:.1}s", start.elapsed().as_secs_f64());
    Ok(())
}

/// Pullbacks of `classes[i]` at image `i` (vanilla gradient and excitation pullback at
/// `temperature`) and projected gradient ascent along each, written as two image grids
/// (`pullbacks.png`, `ascent.png`) and the numbers behind them (`numbers_file`, JSON) in
/// `out`. `model` must be frozen on an autodiff device. Returns the three paths.
///
/// # Shapes
/// `x`: `[N, C, H, W]` in `[-1, 1]`; `labels`, `classes`: `N`.
#[allow(clippy::too_many_arguments)]
pub fn explain_to_files(
    model: &dyn GatedNetwork,
    x: Tensor<4>,
    labels: &[u8],
    classes: &[usize],
    class_names: &[&str],
    temperature: f32,
    asc: &AscentConfig,
    out: &Path,
    numbers_file: &str,
) -> Result<[PathBuf; 3], Box<dyn std::error::Error>> {
    let [n, c, h, w] = x.dims();
    let k = class_names.len();
    let logits = tensor_to_vec(model.logits(x.clone())?)?;
    let pred: Vec<usize> = (0..n)
        .map(|i| {
            (0..k).fold(0, |b, j| {
                if logits[i * k + j] > logits[i * k + b] {
                    j
                } else {
                    b
                }
            })
        })
        .collect();
    let ex = GateMode::Excitation { temperature };
    let v_g = pullback(model, x.clone(), classes, GateMode::Relu)?;
    let v_e = pullback(model, x.clone(), classes, ex)?;
    let y_g = ascent(model, x.clone(), classes, GateMode::Relu, asc)?;
    let y_e = ascent(model, x.clone(), classes, ex, asc)?;
    let logit_of = |t: Tensor<4>| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let l = tensor_to_vec(model.logits(t)?)?;
        Ok((0..n).map(|i| l[i * k + classes[i]]).collect())
    };
    let (lg, le) = (logit_of(y_g.clone())?, logit_of(y_e.clone())?);

    std::fs::create_dir_all(out)?;
    let m = c * h * w;
    let cols = |parts: [Vec<f32>; 3]| -> Vec<f32> {
        (0..n)
            .flat_map(|i| {
                parts
                    .iter()
                    .flat_map(move |p| p[i * m..(i + 1) * m].to_vec())
            })
            .collect()
    };
    let row_labels: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{} → {}",
                class_names[labels[i] as usize], class_names[pred[i]]
            )
        })
        .collect();
    let xs = tensor_to_vec(x)?;
    let (vg, ve) = (tensor_to_vec(v_g)?, tensor_to_vec(v_e)?);
    // Cosine similarity of the two pullbacks of each image (1: the same direction).
    let cosine: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = (&vg[i * m..(i + 1) * m], &ve[i * m..(i + 1) * m]);
            let dot: f64 = a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum();
            let na: f64 = a.iter().map(|p| (*p as f64).powi(2)).sum::<f64>().sqrt();
            let nb: f64 = b.iter().map(|q| (*q as f64).powi(2)).sum::<f64>().sqrt();
            dot / (na * nb).max(1e-30)
        })
        .collect();
    let pull = cols([xs.clone(), vg, ve]);
    let excitation_title = format!("excitation v_Γ (T={temperature})");
    let grid = ImageGrid::new(&pull, [n, 3, c, h, w])?
        .column_titles(&["image", "gradient v_G", excitation_title.as_str()])?
        .row_labels(&row_labels)?
        .title("Pullbacks of the explained class (true → predicted)")
        .scale(4)?;
    let p1 = out.join("pullbacks.png");
    draw_image_grid(&grid, &p1, Format::Png)?;
    let asc_data = cols([xs, tensor_to_vec(y_g)?, tensor_to_vec(y_e)?]);
    let grid = ImageGrid::new(&asc_data, [n, 3, c, h, w])?
        .column_titles(&["image", "ascent along v_G", "ascent along v_Γ"])?
        .row_labels(&row_labels)?
        .title(format!(
            "Projected gradient ascent: {} steps, α={}, ε={}",
            asc.steps, asc.alpha, asc.eps
        ))
        .scale(4)?;
    let p2 = out.join("ascent.png");
    draw_image_grid(&grid, &p2, Format::Png)?;
    let numbers = serde_json::json!({
        "labels": labels, "predictions": pred, "explained_classes": classes,
        "logit_before": (0..n).map(|i| logits[i * k + classes[i]]).collect::<Vec<_>>(),
        "logit_after_gradient_ascent": lg, "logit_after_excitation_ascent": le,
        "temperature": temperature, "ascent": {"steps": asc.steps, "alpha": asc.alpha, "eps": asc.eps},
        "pullback_cosine_gradient_vs_excitation": cosine,
    });
    let p3 = out.join(numbers_file);
    std::fs::write(&p3, serde_json::to_string_pretty(&numbers)?)?;
    Ok([p1, p2, p3])
}
