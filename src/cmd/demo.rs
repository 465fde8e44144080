//! `curtain demo`: the built-in small CNN trained on Fashion-MNIST (weights and eight
//! test images embedded in the binary, see `assets/demo/README.md`) explains its decisions
//! with excitation pullbacks against vanilla gradients, and with projected gradient ascent
//! along each. No download, a few seconds on a CPU.

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::Device;
use excitation::data::idx::parse_idx;
use excitation::data::{images_to_tensor, FASHION_MNIST_CLASSES};
use excitation::small_nets::explain::{ascent, pullback, AscentConfig};
use excitation::small_nets::{GateMode, PlainCnnConfig};
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

fn to_vec(t: burn::tensor::Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap_or_default()
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
    let logits = model.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap_or_default();
    let pred: Vec<usize> = (0..n)
        .map(|i| (0..10).fold(0, |b, c| if logits[i * 10 + c] > logits[i * 10 + b] { c } else { b }))
        .collect();
    let ex = GateMode::Excitation { temperature: a.temperature };
    let v_g = pullback(&model, x.clone(), &classes, GateMode::Relu)?;
    let v_e = pullback(&model, x.clone(), &classes, ex)?;
    let asc = AscentConfig { alpha: a.alpha, steps: a.steps, eps: a.eps };
    let y_g = ascent(&model, x.clone(), &classes, GateMode::Relu, &asc)?;
    let y_e = ascent(&model, x.clone(), &classes, ex, &asc)?;
    let logit_of = |t: burn::tensor::Tensor<4>| -> Vec<f32> {
        let l = model.forward(t).into_data().try_to_vec::<f32>().unwrap_or_default();
        (0..n).map(|i| l[i * 10 + classes[i]]).collect()
    };
    let (lg, le) = (logit_of(y_g.clone()), logit_of(y_e.clone()));

    std::fs::create_dir_all(&a.out)?;
    let cols = |parts: [Vec<f32>; 3]| -> Vec<f32> {
        let m = h * w;
        (0..n).flat_map(|i| parts.iter().flat_map(move |p| p[i * m..(i + 1) * m].to_vec())).collect()
    };
    let row_labels: Vec<String> = (0..n)
        .map(|i| format!("{} → {}", FASHION_MNIST_CLASSES[labels[i] as usize], FASHION_MNIST_CLASSES[pred[i]]))
        .collect();
    let xs = to_vec(x.clone());
    let pull = cols([xs.clone(), to_vec(v_g), to_vec(v_e)]);
    let excitation_title = format!("excitation v_Γ (T={})", a.temperature);
    let grid = ImageGrid::new(&pull, [n, 3, 1, h, w])?
        .column_titles(&["image", "gradient v_G", excitation_title.as_str()])?
        .row_labels(&row_labels)?
        .title("Pullbacks of the explained class (true → predicted)")
        .scale(4)?;
    let p1 = a.out.join("pullbacks.png");
    draw_image_grid(&grid, &p1, Format::Png)?;
    let asc_data = cols([xs, to_vec(y_g), to_vec(y_e)]);
    let grid = ImageGrid::new(&asc_data, [n, 3, 1, h, w])?
        .column_titles(&["image", "ascent along v_G", "ascent along v_Γ"])?
        .row_labels(&row_labels)?
        .title(format!("Projected gradient ascent: {} steps, α={}, ε={}", a.steps, a.alpha, a.eps))
        .scale(4)?;
    let p2 = a.out.join("ascent.png");
    draw_image_grid(&grid, &p2, Format::Png)?;
    let numbers = serde_json::json!({
        "labels": labels, "predictions": pred, "explained_classes": classes,
        "logit_before": (0..n).map(|i| logits[i * 10 + classes[i]]).collect::<Vec<_>>(),
        "logit_after_gradient_ascent": lg, "logit_after_excitation_ascent": le,
        "temperature": a.temperature, "ascent": {"steps": a.steps, "alpha": a.alpha, "eps": a.eps},
    });
    let p3 = a.out.join("demo.json");
    std::fs::write(&p3, serde_json::to_string_pretty(&numbers)?)?;
    println!("curtain demo: built-in Fashion-MNIST CNN ({} conv blocks, BatchNorm), {n} test images", cfg.channels.len());
    println!("  pullbacks (image | gradient | excitation pullback): {}", p1.display());
    println!("  ascent    (image | along gradient | along excitation): {}", p2.display());
    println!("  numbers: {}", p3.display());
    println!("  done in {:.1}s", start.elapsed().as_secs_f64());
    Ok(())
}
