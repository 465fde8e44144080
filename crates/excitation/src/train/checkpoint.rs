//! Checkpoints: `<run>/checkpoints/step-NNNNNNNN/` holding `model.bpk` (parameters, BatchNorm
//! statistics and parameter ids, burnpack), `optim.bpk` (optimizer state keyed by those ids)
//! and `state.json`. Each is written into `step-NNNNNNNN.tmp/` first and the folder is
//! renamed into place only when complete, so a run killed at any moment leaves either a
//! whole checkpoint or none (a stale `.tmp` folder is ignored and overwritten).

use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::experiment_error::{ExperimentError, ExperimentResult};
use crate::small_nets::{SmallNet, SmallNetConfig};

/// What a checkpoint records besides tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimisation steps done.
    pub step: usize,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Mean training loss since the previous checkpoint (NaN at step 0).
    pub train_loss: f64,
    /// Mean training accuracy (on augmented batches) since the previous checkpoint.
    pub train_accuracy: f64,
    /// Accuracy on the first `eval_images` test images.
    pub test_accuracy: f64,
}

/// A complete checkpoint on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Steps done when it was written.
    pub step: usize,
    /// Its folder.
    pub dir: PathBuf,
}

impl Checkpoint {
    /// Reads `state.json`.
    pub fn state(&self) -> ExperimentResult<CheckpointState> {
        let p = self.dir.join("state.json");
        let s = std::fs::read_to_string(&p).map_err(|e| ExperimentError::io(&p, e))?;
        serde_json::from_str(&s).map_err(|e| ExperimentError::Checkpoint {
            path: p,
            reason: e.to_string(),
        })
    }
}

/// The folder of the checkpoint at `step`.
pub fn checkpoint_dir(run: &Path, step: usize) -> PathBuf {
    run.join("checkpoints").join(format!("step-{step:08}"))
}

/// All complete checkpoints of a run, by step.
pub fn list_checkpoints(run: &Path) -> ExperimentResult<Vec<Checkpoint>> {
    let dir = run.join("checkpoints");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| ExperimentError::io(&dir, e))? {
        let entry = entry.map_err(|e| ExperimentError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(step) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<usize>().ok())
        {
            let d = entry.path();
            if d.join("model.bpk").is_file() && d.join("state.json").is_file() {
                out.push(Checkpoint { step, dir: d });
            }
        }
    }
    out.sort_by_key(|c| c.step);
    Ok(out)
}

fn ck_err(path: &Path, e: impl std::fmt::Display) -> ExperimentError {
    ExperimentError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes a checkpoint atomically (temporary folder, then rename).
pub fn write_checkpoint(
    run: &Path,
    model: &SmallNet,
    optim: &ModuleOptimizer,
    state: &CheckpointState,
) -> ExperimentResult<Checkpoint> {
    let final_dir = checkpoint_dir(run, state.step);
    let tmp = final_dir.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| ExperimentError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| ExperimentError::io(&tmp, e))?;
    model.save_weights(&tmp.join("model.bpk"))?;
    optim
        .save(tmp.join("optim.bpk"))
        .map_err(|e| ck_err(&tmp, e))?;
    let json = serde_json::to_string_pretty(state).map_err(|e| ck_err(&tmp, e))?;
    std::fs::write(tmp.join("state.json"), json).map_err(|e| ExperimentError::io(&tmp, e))?;
    if final_dir.exists() {
        // Re-running over an existing checkpoint: move the old one aside first so a crash
        // between the two renames still leaves a whole checkpoint on disk.
        let old = final_dir.with_extension("old");
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&final_dir, &old).map_err(|e| ExperimentError::io(&final_dir, e))?;
        std::fs::rename(&tmp, &final_dir).map_err(|e| ExperimentError::io(&final_dir, e))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, &final_dir).map_err(|e| ExperimentError::io(&final_dir, e))?;
    }
    Ok(Checkpoint {
        step: state.step,
        dir: final_dir,
    })
}

/// Loads a checkpoint's model onto `device`.
pub fn load_model(
    config: &SmallNetConfig,
    dir: &Path,
    device: &Device,
) -> ExperimentResult<SmallNet> {
    let path = dir.join("model.bpk");
    if !path.is_file() {
        return Err(ExperimentError::Checkpoint {
            path,
            reason: "no model.bpk in this folder".into(),
        });
    }
    config.init(device)?.load_weights(&path)
}
