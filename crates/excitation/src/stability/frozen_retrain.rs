//! Frozen-gate retraining in the manner of deep gated networks (Lakshminarayanan & Singh
//! 2020): the gates of checkpoint `s` (computed by that checkpoint's network, the "gating
//! network", on each input) are fixed, and a freshly initialised "value network" of the same
//! architecture is trained through them. Its test accuracy against `s`, beside the ordinary
//! ReLU network trained with the same budget and the gates of the untrained network
//! (checkpoint 0: random gates), measures how much of what the network learnt sits in its
//! gates (Sec. 5.1).

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::probe::Probe;
use crate::data::Dataset;
use crate::experiment_error::{ExperimentError, ExperimentResult};
use crate::small_nets::{GateLayer, GateMode, GatedNetwork, Gates, SmallNetConfig};
use crate::train::run::{correct, cross_entropy, make_optimizer, step_indices};
use crate::train::OptimizerKind;

/// Budget of one retraining.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrainConfig {
    /// Optimisation steps.
    pub steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Learning rate (constant).
    pub lr: f64,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Seed of the value network's initialisation and the data order.
    pub seed: u64,
}

fn gates_on(gating: &dyn GatedNetwork, x: Tensor<4>, to: &Device) -> ExperimentResult<Gates> {
    let g = gating.forward_traced(x, GateMode::Relu)?.gates()?;
    Ok(Gates {
        layers: g
            .layers
            .into_iter()
            .map(|l| GateLayer {
                name: l.name,
                kind: l.kind,
                mask: Tensor::from_data(l.mask.into_data(), to),
            })
            .collect(),
    })
}

/// Trains a fresh value network through the gates of `gating` (or, with `None`, an
/// ordinary ReLU network) and returns its accuracy on `test`.
///
/// `gating` lives on the inference device `infer`; training runs on the autodiff device
/// `train_dev`.
pub fn retrain_accuracy(
    model: &SmallNetConfig,
    gating: Option<&dyn GatedNetwork>,
    train: &Dataset,
    test: &Probe,
    cfg: &RetrainConfig,
    infer: &Device,
    train_dev: &Device,
) -> ExperimentResult<f64> {
    if !train_dev.is_autodiff() {
        return Err(ExperimentError::Config(
            "retraining needs an autodiff device".into(),
        ));
    }
    train_dev.seed(cfg.seed);
    let mut value = model.init(train_dev)?;
    let mut optim = make_optimizer(cfg.optimizer);
    let mut perm = None;
    for step in 0..cfg.steps {
        let _awake = crate::awake::keep_workers_awake(); // see pullback::pullback
        let idx = step_indices(cfg.seed, step, cfg.batch_size, train.len(), &mut perm);
        let b = train.batch(&idx, None, train_dev);
        let logits = match gating {
            Some(g) => {
                let gates = gates_on(g, train.batch(&idx, None, infer).images, train_dev)?;
                value
                    .forward_traced(b.images, GateMode::Frozen(&gates))?
                    .logits
            }
            None => value.forward_traced(b.images, GateMode::Relu)?.logits,
        };
        let loss = cross_entropy(logits, b.labels);
        let grads = GradientsParams::from_grads(loss.backward(), &value);
        value = optim.step(cfg.lr, value, grads);
    }
    let value = burn::module::Module::fork(burn::module::Module::valid(&value), infer);
    let mut right = 0;
    for r in test.batches() {
        let idx: Vec<usize> = r.clone().collect();
        let b = test.data.batch(&idx, None, infer);
        let logits = match gating {
            Some(g) => {
                let gates = gates_on(g, b.images.clone(), infer)?;
                value
                    .forward_traced(b.images, GateMode::Frozen(&gates))?
                    .logits
            }
            None => value.forward_traced(b.images, GateMode::Relu)?.logits,
        };
        right += correct(&logits, &b.labels);
    }
    Ok(right as f64 / test.data.len().max(1) as f64)
}
