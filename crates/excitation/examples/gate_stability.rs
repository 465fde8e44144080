//! The gate-stability pipeline without the CLI (same library calls and defaults as
//! `curtain train` / `curtain stability measure`), for running the experiments from a
//! build of the `excitation` crate alone:
//!
//! ```text
//! gate_stability train   RUN bn|nobn STEPS EXTRA_CHECKPOINTS [STOP_AT]
//! gate_stability measure RUN OUT PROBE KERNEL_TRAIN KERNEL_TEST KERNEL_CKPTS RETRAIN_STEPS RETRAIN_CKPTS
//! gate_stability export  RUN ASSETS_DIR N_IMAGES
//! ```
//! Data: Fashion-MNIST from `$FASHION_MNIST_DIR` or Debian's folder.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use excitation::data::idx::encode_idx;
use excitation::data::{fashion_mnist, Split, FASHION_MNIST_DEFAULT_DIR};
use excitation::small_nets::{PlainCnnConfig, SmallNet};
use excitation::stability::experiment::{measure_run, StabilityConfig};
use excitation::stability::frozen_retrain::RetrainConfig;
use excitation::train::export::export_safetensors;
use excitation::train::{
    list_checkpoints, load_model, train, LrSchedule, OptimizerKind, TrainConfig,
};

fn list(s: &str) -> Vec<usize> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().expect("comma-separated integers"))
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(
        std::env::var("FASHION_MNIST_DIR").unwrap_or_else(|_| FASHION_MNIST_DEFAULT_DIR.into()),
    );
    let train_data = fashion_mnist(&dir, Split::Train)?;
    let test_data = fashion_mnist(&dir, Split::Test)?;
    match a.get(1).map(String::as_str) {
        Some("train") => {
            let run = Path::new(&a[2]);
            let bn = a[3] == "bn";
            let steps: usize = a[4].parse()?;
            let config = TrainConfig {
                model: PlainCnnConfig::fashion_mnist(bn).into(),
                optimizer: OptimizerKind::Sgd {
                    momentum: 0.9,
                    weight_decay: 5e-4,
                },
                lr: 0.05,
                schedule: LrSchedule::Cosine {
                    warmup: (steps / 20).max(1),
                },
                batch_size: 64,
                steps,
                checkpoint_every: 250,
                extra_checkpoints: list(&a[5]),
                seed: 0,
                crop_padding: 2,
                flip: false,
                eval_images: 1000,
            };
            let stop = a.get(6).map(|s| s.parse()).transpose()?;
            let start = std::time::Instant::now();
            let dev = Device::flex().autodiff();
            let out = train(
                &config,
                &train_data,
                &test_data,
                run,
                stop,
                &dev,
                &mut |r| {
                    if r.step % 50 == 0 || r.test_accuracy.is_some() {
                        eprintln!(
                            "[{:>6.1}s] step {}/{} loss {:.3} acc {:.3} lr {:.4}{}",
                            start.elapsed().as_secs_f64(),
                            r.step,
                            r.steps,
                            r.loss,
                            r.accuracy,
                            r.lr,
                            r.test_accuracy
                                .map(|t| format!(" test {t:.4}"))
                                .unwrap_or_default()
                        );
                    }
                },
            )?;
            println!(
                "{} steps (resumed from {}) in {:.1}s",
                out.step,
                out.resumed_from,
                start.elapsed().as_secs_f64()
            );
        }
        Some("measure") => {
            let cfg = StabilityConfig {
                probe_images: a[4].parse()?,
                kernel_train: a[5].parse()?,
                kernel_test: a[6].parse()?,
                temperatures: vec![0.1, 0.3, 1.0],
                ridge: 1e-2,
                kernel_checkpoints: list(&a[7]),
                retrain: (a[8].parse::<usize>()? > 0).then(|| RetrainConfig {
                    steps: a[8].parse().unwrap_or(0),
                    batch_size: 64,
                    lr: 0.05,
                    optimizer: OptimizerKind::Sgd {
                        momentum: 0.9,
                        weight_decay: 5e-4,
                    },
                    seed: 1234,
                }),
                retrain_checkpoints: list(&a[9]),
                batch: 250,
                threshold: 0.9,
            };
            let infer = Device::flex();
            let start = std::time::Instant::now();
            let s = measure_run(
                Path::new(&a[2]),
                &train_data,
                &test_data,
                &cfg,
                Path::new(&a[3]),
                &infer,
                &infer.clone().autodiff(),
                &mut |m| eprintln!("[{:>6.1}s] {m}", start.elapsed().as_secs_f64()),
            )?;
            println!(
                "steps {:?} probe accuracy {:?} t_pi {:?} seconds {:?}",
                s.steps, s.probe_accuracy, s.t_pi_step, s.seconds
            );
        }
        Some("export") => {
            let run = Path::new(&a[2]);
            let assets = Path::new(&a[3]);
            let n: usize = a[4].parse()?;
            let cfg: TrainConfig =
                serde_json::from_str(&std::fs::read_to_string(run.join("config.json"))?)?;
            let ck = list_checkpoints(run)?.pop().ok_or("no checkpoint")?;
            let SmallNet::Plain(model) = load_model(&cfg.model, &ck.dir, &Device::flex())? else {
                return Err("the demo model must be a plain CNN".into());
            };
            std::fs::create_dir_all(assets)?;
            export_safetensors(&model, &assets.join("model.safetensors"))?;
            std::fs::write(
                assets.join("config.json"),
                serde_json::to_string_pretty(&cfg.model)?,
            )?;
            // One test image of each of the first n classes, in class order.
            let mut idx = Vec::new();
            for c in 0..n.min(10) {
                if let Some(i) = test_data.labels.iter().position(|&l| l as usize == c) {
                    idx.push(i);
                }
            }
            let sub = test_data.subset(&idx)?;
            std::fs::write(
                assets.join("images-idx3-ubyte"),
                encode_idx(&[sub.len(), 28, 28], &sub.pixels),
            )?;
            std::fs::write(
                assets.join("labels-idx1-ubyte"),
                encode_idx(&[sub.len()], &sub.labels),
            )?;
            println!(
                "exported step {} and test images {idx:?} to {}",
                ck.step,
                assets.display()
            );
        }
        _ => return Err("usage: gate_stability train|measure|export …".into()),
    }
    Ok(())
}
