//! Training the small networks with burn: SGD with momentum or Adam, a learning-rate
//! schedule, seeded data order and augmentation, checkpoints every `k` steps written
//! atomically, and a resume that continues an interrupted run exactly.
//!
//! Reproducibility: the order of the samples is a function of `(seed, epoch)` and the
//! augmentation of `(seed, step)`, so a run's whole random state at step `t` is its
//! parameters, BatchNorm statistics and optimizer state, all of which a checkpoint holds.

pub mod checkpoint;
pub mod export;
pub mod run;
pub mod schedule;

use serde::{Deserialize, Serialize};

use crate::experiment_error::{ExperimentError, ExperimentResult};
use crate::small_nets::SmallNetConfig;

pub use checkpoint::{list_checkpoints, load_model, Checkpoint};
pub use run::{evaluate, train, StepReport, TrainOutcome};
pub use schedule::LrSchedule;

/// Which optimizer to use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with (heavy-ball, undampened) momentum and L2 weight decay.
    Sgd {
        /// Momentum factor (0.9 is usual).
        momentum: f64,
        /// L2 penalty.
        weight_decay: f64,
    },
    /// Adam with default betas.
    Adam {
        /// L2 penalty.
        weight_decay: f64,
    },
}

/// Everything that defines a training run. Written to `config.json` in the run folder; a
/// resumed run must have the same configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The network (a plain CNN's configuration as is, a ResNet's as `{"resnet": …}`).
    pub model: SmallNetConfig,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Peak learning rate.
    pub lr: f64,
    /// How the learning rate moves over the run.
    pub schedule: LrSchedule,
    /// Images per step.
    pub batch_size: usize,
    /// Total optimisation steps.
    pub steps: usize,
    /// Write a checkpoint every this many steps (and at step 0 and at the end).
    pub checkpoint_every: usize,
    /// Further steps to checkpoint at (dense early checkpoints for the stability measurements).
    #[serde(default)]
    pub extra_checkpoints: Vec<usize>,
    /// Seed for initialisation, data order and augmentation.
    pub seed: u64,
    /// Zero padding of the random crop (0 = no crop).
    pub crop_padding: usize,
    /// Random horizontal flips.
    pub flip: bool,
    /// Test images used for the accuracy recorded at each checkpoint.
    pub eval_images: usize,
}

impl TrainConfig {
    /// Checks the values make sense.
    pub fn validate(&self) -> ExperimentResult<()> {
        self.model.validate()?;
        if self.batch_size == 0 || self.steps == 0 || self.checkpoint_every == 0 {
            return Err(ExperimentError::Config(format!(
                "batch size {}, steps {} and checkpoint interval {} must all be positive",
                self.batch_size, self.steps, self.checkpoint_every
            )));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ExperimentError::Config(format!(
                "learning rate {} must be positive",
                self.lr
            )));
        }
        Ok(())
    }
}
