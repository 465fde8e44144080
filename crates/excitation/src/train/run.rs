//! The training loop.

use std::path::Path;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor};

use super::checkpoint::{list_checkpoints, load_model, write_checkpoint, CheckpointState};
use super::{OptimizerKind, TrainConfig};
use crate::data::{Augmentation, Dataset, SplitMix64};
use crate::experiment_error::{ExperimentError, ExperimentResult};
use crate::small_nets::{GatedNetwork, SmallNet};

/// What the loop reports after each step (for progress bars).
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    /// Steps done.
    pub step: usize,
    /// Total steps of the run.
    pub steps: usize,
    /// Loss of this step's batch.
    pub loss: f64,
    /// Accuracy on this step's batch.
    pub accuracy: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Test accuracy, on steps that wrote a checkpoint.
    pub test_accuracy: Option<f64>,
}

/// The end of a call to [`train`].
#[derive(Debug)]
pub struct TrainOutcome {
    /// The network after the last step done.
    pub model: SmallNet,
    /// Steps done in total (including those of earlier, resumed runs).
    pub step: usize,
    /// Step the call started from (0 for a fresh run).
    pub resumed_from: usize,
}

/// Mean cross-entropy of `logits` against `labels`.
///
/// # Shapes
/// `logits`: `[N, C]`, `labels`: `[N]` → scalar `[1]`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, c] = logits.dims();
    let onehot = labels.one_hot::<2>(c).float();
    (log_softmax(logits, 1) * onehot).sum().neg() / n as f64
}

/// Number of rows whose arg-max equals the label.
///
/// # Shapes
/// `logits`: `[N, C]`, `labels`: `[N]`.
pub fn correct(logits: &Tensor<2>, labels: &Tensor<1, Int>) -> usize {
    let pred = logits.clone().argmax(1).flatten::<1>(0, 1);
    pred.equal(labels.clone()).int().sum().into_scalar_i64() as usize
}

trait IntoScalarI64 {
    fn into_scalar_i64(self) -> i64;
}
impl IntoScalarI64 for Tensor<1, Int> {
    fn into_scalar_i64(self) -> i64 {
        self.into_data().iter::<i64>().next().unwrap_or(0)
    }
}

/// Accuracy of `model` (ordinary ReLU network, evaluation-mode BatchNorm) on the first
/// `limit` images of `data`, in batches of `batch`.
pub fn evaluate(
    model: &dyn GatedNetwork,
    data: &Dataset,
    limit: usize,
    batch: usize,
    device: &Device,
) -> f64 {
    let n = limit.min(data.len());
    if n == 0 {
        return f64::NAN;
    }
    let mut right = 0;
    for start in (0..n).step_by(batch.max(1)) {
        let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
        let b = data.batch(&idx, None, device);
        let logits = model.logits(b.images);
        if let Ok(l) = logits {
            right += correct(&l, &b.labels);
        }
    }
    right as f64 / n as f64
}

/// The burn optimizer for `kind`.
pub fn make_optimizer(kind: OptimizerKind) -> ModuleOptimizer {
    match kind {
        OptimizerKind::Sgd {
            momentum,
            weight_decay,
        } => {
            let mut c = SgdConfig::new().with_momentum(Some(
                MomentumConfig::new()
                    .with_momentum(momentum)
                    .with_dampening(0.0),
            ));
            if weight_decay > 0.0 {
                c = c.with_weight_decay(Some(WeightDecayConfig::new(weight_decay as f32)));
            }
            c.init()
        }
        OptimizerKind::Adam { weight_decay } => {
            let mut c = AdamConfig::new();
            if weight_decay > 0.0 {
                c = c.with_weight_decay(Some(WeightDecayConfig::new(weight_decay as f32)));
            }
            c.init()
        }
    }
}

/// The training samples of step `step`: sample `i = step·B + j` is position `i mod n` of
/// the permutation of epoch `i div n`, drawn from `(seed, epoch)`.
pub fn step_indices(
    seed: u64,
    step: usize,
    batch: usize,
    n: usize,
    perm_cache: &mut Option<(usize, Vec<usize>)>,
) -> Vec<usize> {
    (0..batch)
        .map(|j| {
            let i = step * batch + j;
            let epoch = i / n;
            if perm_cache.as_ref().map(|c| c.0) != Some(epoch) {
                *perm_cache = Some((epoch, SplitMix64::stream(seed, epoch as u64).permutation(n)));
            }
            perm_cache.as_ref().map(|c| c.1[i % n]).unwrap_or(0)
        })
        .collect()
}

/// Trains (or resumes) the run in folder `run` up to `config.steps`, or only up to
/// `stop_at` steps if given (an interruption, for tests and for running in pieces).
///
/// `device` must be an autodiff device (`Device::flex().autodiff()`). If `run` already
/// holds checkpoints, the run resumes from the latest one; its `config.json` must equal
/// `config`.
pub fn train(
    config: &TrainConfig,
    train_data: &Dataset,
    test_data: &Dataset,
    run: &Path,
    stop_at: Option<usize>,
    device: &Device,
    on_step: &mut dyn FnMut(&StepReport),
) -> ExperimentResult<TrainOutcome> {
    config.validate()?;
    if !device.is_autodiff() {
        return Err(ExperimentError::Config(
            "training needs an autodiff device (`Device::flex().autodiff()`)".into(),
        ));
    }
    let m = &config.model;
    let (channels, size) = m.input();
    if train_data.channels != channels || train_data.height != size || train_data.width != size {
        return Err(ExperimentError::Shape(format!(
            "data has {}×{}×{} images, the network expects {channels}×{size}×{size}",
            train_data.channels, train_data.height, train_data.width
        )));
    }
    std::fs::create_dir_all(run).map_err(|e| ExperimentError::io(run, e))?;
    let cfg_path = run.join("config.json");
    let cfg_json =
        serde_json::to_string_pretty(config).map_err(|e| ExperimentError::Config(e.to_string()))?;
    let existing = list_checkpoints(run)?;
    if cfg_path.is_file() && !existing.is_empty() {
        let old =
            std::fs::read_to_string(&cfg_path).map_err(|e| ExperimentError::io(&cfg_path, e))?;
        let old: TrainConfig =
            serde_json::from_str(&old).map_err(|e| ExperimentError::Checkpoint {
                path: cfg_path.clone(),
                reason: e.to_string(),
            })?;
        if &old != config {
            return Err(ExperimentError::Config(format!(
                "`{}` holds a run with a different configuration; use a new folder or the same settings",
                run.display()
            )));
        }
    } else {
        std::fs::write(&cfg_path, &cfg_json).map_err(|e| ExperimentError::io(&cfg_path, e))?;
    }

    let mut optim = make_optimizer(config.optimizer);
    let (mut model, start) = match existing.last() {
        Some(ck) => {
            let model = load_model(m, &ck.dir, device)?;
            let op = ck.dir.join("optim.bpk");
            if ck.step > 0 {
                optim = optim.load(&op).map_err(|e| ExperimentError::Checkpoint {
                    path: op,
                    reason: e.to_string(),
                })?;
            }
            (model, ck.step)
        }
        None => {
            device.seed(config.seed);
            let model = m.init(device)?;
            let eval = evaluate(
                &model.valid().fork(&model_device(device)),
                test_data,
                config.eval_images,
                250,
                &model_device(device),
            );
            write_checkpoint(
                run,
                &model,
                &optim,
                &CheckpointState {
                    step: 0,
                    lr: 0.0,
                    train_loss: f64::NAN,
                    train_accuracy: f64::NAN,
                    test_accuracy: eval,
                },
            )?;
            (model, 0)
        }
    };
    let end = stop_at.unwrap_or(config.steps).min(config.steps);
    let aug = Augmentation {
        padding: config.crop_padding,
        flip: config.flip,
    };
    let mut perm = None;
    let (mut loss_sum, mut acc_sum, mut count) = (0.0, 0.0, 0usize);
    let n = train_data.len();
    for step in start..end {
        let _awake = crate::awake::keep_workers_awake(); // see pullback::pullback
        let idx = step_indices(config.seed, step, config.batch_size, n, &mut perm);
        let mut rng = SplitMix64::stream(config.seed ^ 0xA5A5_5A5A, step as u64);
        let augment = (config.crop_padding > 0 || config.flip).then_some((&aug, &mut rng));
        let b = train_data.batch(&idx, augment, device);
        let logits = model.logits(b.images)?;
        let right = correct(&logits, &b.labels);
        let loss = cross_entropy(logits, b.labels);
        let loss_v = loss
            .clone()
            .into_data()
            .iter::<f32>()
            .next()
            .unwrap_or(f32::NAN) as f64;
        if !loss_v.is_finite() {
            return Err(ExperimentError::Config(format!(
                "training diverged at step {step} (loss {loss_v}); lower the learning rate"
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = config.schedule.at(config.lr, step, config.steps);
        model = optim.step(lr, model, grads);
        let acc = right as f64 / idx.len() as f64;
        loss_sum += loss_v;
        acc_sum += acc;
        count += 1;
        let done = step + 1;
        let mut test_accuracy = None;
        if done % config.checkpoint_every == 0
            || done == config.steps
            || config.extra_checkpoints.contains(&done)
        {
            let eval = evaluate(
                &model.valid().fork(&model_device(device)),
                test_data,
                config.eval_images,
                250,
                &model_device(device),
            );
            write_checkpoint(
                run,
                &model,
                &optim,
                &CheckpointState {
                    step: done,
                    lr,
                    train_loss: loss_sum / count as f64,
                    train_accuracy: acc_sum / count as f64,
                    test_accuracy: eval,
                },
            )?;
            (loss_sum, acc_sum, count) = (0.0, 0.0, 0);
            test_accuracy = Some(eval);
        }
        on_step(&StepReport {
            step: done,
            steps: config.steps,
            loss: loss_v,
            accuracy: acc,
            lr,
            test_accuracy,
        });
    }
    Ok(TrainOutcome {
        model,
        step: end.max(start),
        resumed_from: start,
    })
}

/// The inference device under an autodiff device: evaluation runs there, so BatchNorm uses
/// its running statistics and no graph is kept.
fn model_device(device: &Device) -> Device {
    device.clone().inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FASHION_MNIST_CLASSES;
    use crate::small_nets::{PlainCnnConfig, SmallNetConfig, SmallResNetConfig};
    use crate::train::LrSchedule;

    fn data(n: usize, salt: usize) -> Dataset {
        // Class-dependent bright square on noise: learnable in a few steps.
        let mut pixels = Vec::with_capacity(n * 64);
        let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        for (i, &label) in labels.iter().enumerate() {
            for p in 0..64 {
                let (y, x) = (p / 8, p % 8);
                let c = label as usize;
                let on = y / 3 == c && x / 3 == c;
                pixels.push(if on {
                    230
                } else {
                    ((i * 31 + p * 17 + salt) % 97) as u8
                });
            }
        }
        Dataset::new(pixels, labels, 1, 8, 8, FASHION_MNIST_CLASSES).unwrap()
    }

    fn config(optimizer: OptimizerKind) -> TrainConfig {
        TrainConfig {
            model: PlainCnnConfig {
                image_size: 8,
                channels: vec![4, 8],
                ..PlainCnnConfig::fashion_mnist(true)
            }
            .into(),
            optimizer,
            lr: 0.05,
            schedule: LrSchedule::Cosine { warmup: 2 },
            batch_size: 8,
            steps: 12,
            checkpoint_every: 4,
            extra_checkpoints: vec![1],
            seed: 17,
            crop_padding: 1,
            flip: true,
            eval_images: 20,
        }
    }

    /// A run folder that does not exist yet, removed with its temporary parent on drop.
    fn tmp(name: &str) -> crate::testing::TempPath {
        crate::testing::temp_path(name)
    }

    fn final_logits(cfg: &TrainConfig, run: &Path, x: &Dataset) -> Vec<f32> {
        let dev = Device::flex();
        let ck = list_checkpoints(run).unwrap().pop().unwrap();
        let m = load_model(&cfg.model, &ck.dir, &dev).unwrap();
        let b = x.batch(&(0..x.len()).collect::<Vec<_>>(), None, &dev);
        m.forward(b.images).into_data().try_to_vec::<f32>().unwrap()
    }

    /// Stop a run mid-way (after step 6, last checkpoint at 4; a stale half-written
    /// checkpoint folder lying around), resume it, and compare with an uninterrupted run:
    /// the final parameters (weights, BatchNorm statistics, through the logits) are
    /// bit-identical, for SGD with momentum and for Adam (their states are checkpointed),
    /// and for the small ResNet.
    #[test]
    fn interrupted_run_resumes_exactly() {
        let (train_d, test_d) = (data(40, 0), data(20, 5));
        let dev = Device::flex().autodiff();
        let resnet = SmallResNetConfig {
            in_channels: 1,
            image_size: 8,
            base_width: 4,
            blocks_per_stage: vec![1, 1],
            num_classes: 10,
        };
        for (name, opt, model) in [
            (
                "sgd",
                OptimizerKind::Sgd {
                    momentum: 0.9,
                    weight_decay: 1e-4,
                },
                None,
            ),
            ("adam", OptimizerKind::Adam { weight_decay: 0.0 }, None),
            (
                "resnet",
                OptimizerKind::Sgd {
                    momentum: 0.9,
                    weight_decay: 1e-4,
                },
                Some(SmallNetConfig::from(resnet)),
            ),
        ] {
            let mut cfg = config(opt);
            if let Some(m) = model {
                cfg.model = m;
            }
            let full = tmp(&format!("{name}-full"));
            let out = train(&cfg, &train_d, &test_d, &full, None, &dev, &mut |_| {}).unwrap();
            assert_eq!((out.step, out.resumed_from), (12, 0));
            let steps: Vec<usize> = list_checkpoints(&full)
                .unwrap()
                .iter()
                .map(|c| c.step)
                .collect();
            assert_eq!(steps, vec![0, 1, 4, 8, 12]);

            let cut = tmp(&format!("{name}-cut"));
            let first = train(&cfg, &train_d, &test_d, &cut, Some(6), &dev, &mut |_| {}).unwrap();
            assert_eq!(first.step, 6);
            // A crash while writing checkpoint 8 leaves a partial temporary folder.
            std::fs::create_dir_all(cut.join("checkpoints/step-00000008.tmp")).unwrap();
            std::fs::write(
                cut.join("checkpoints/step-00000008.tmp/model.bpk"),
                b"partial",
            )
            .unwrap();
            let mut seen = Vec::new();
            let second = train(&cfg, &train_d, &test_d, &cut, None, &dev, &mut |r| {
                seen.push(r.step)
            })
            .unwrap();
            assert_eq!(second.resumed_from, 4);
            assert_eq!(seen, (5..=12).collect::<Vec<_>>());
            assert_eq!(
                final_logits(&cfg, &full, &test_d),
                final_logits(&cfg, &cut, &test_d),
                "{name}"
            );
            // And training did something: the final network beats chance on its data.
            let st = list_checkpoints(&full)
                .unwrap()
                .pop()
                .unwrap()
                .state()
                .unwrap();
            assert!(st.train_loss.is_finite());
        }
    }

    #[test]
    fn resume_with_other_settings_is_refused() {
        let (train_d, test_d) = (data(40, 0), data(20, 5));
        let dev = Device::flex().autodiff();
        let cfg = config(OptimizerKind::Sgd {
            momentum: 0.9,
            weight_decay: 0.0,
        });
        let run = tmp("other");
        train(&cfg, &train_d, &test_d, &run, Some(2), &dev, &mut |_| {}).unwrap();
        let other = TrainConfig {
            lr: 0.5,
            ..cfg.clone()
        };
        let err = train(&other, &train_d, &test_d, &run, None, &dev, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("different configuration"), "{err}");
        assert!(train(
            &cfg,
            &train_d,
            &test_d,
            &run,
            None,
            &Device::flex(),
            &mut |_| {}
        )
        .is_err());
    }
}
