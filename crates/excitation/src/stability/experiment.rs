//! The whole gate-stability measurement of one training run: loads its checkpoints,
//! measures everything on a fixed probe set and writes CSV files plus `summary.json`.
//!
//! Files written to the output folder:
//! - `gate_agreement.csv` — `s_step,t_step,layer,kind,agreement` for every pair `s ≤ t`;
//! - `induced.csv` — `s_step,t_step,rho,accuracy_pi,accuracy,prediction_agreement`
//!   (Hypothesis 1 with `π = G̃^(s)`);
//! - `excitation_corr.csv` — `s_step,t_step,temperature,mean_rho,median_rho,frac_above_0_9,undefined`
//!   (per-image `ρ(Γ̃^(t)(x), G̃^(s)(x))` summarised over the probe);
//! - `kernel.csv` — `step,kernel,temperature,accuracy,network_accuracy`;
//! - `frozen_retrain.csv` — `source,gate_step,accuracy`;
//! - `summary.json` — configuration, checkpoint steps, `t_π`, timings, and what was not
//!   measured and why.
//!
//! For a network with skip connections (the small ResNet) `excitation_corr.csv` and
//! `kernel.csv` are not written: both rest on the path tensor being a product over layers
//! (the chain of Sec. 2.2), which skips break; `summary.json` lists them under `skipped`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::agreement::gate_agreement;
use super::excitation_corr::excitation_gate_correlations;
use super::frozen_retrain::{retrain_accuracy, RetrainConfig};
use super::induced::{induced_correlation, t_pi};
use super::kernel_machine::{kernel_machine_accuracy, KernelKind};
use super::probe::{PackedGates, Probe};
use crate::data::Dataset;
use crate::experiment_error::{ExperimentError, ExperimentResult};
use crate::train::{list_checkpoints, load_model, TrainConfig};

/// What to measure and on how much data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StabilityConfig {
    /// Test images in the probe set `X`.
    pub probe_images: usize,
    /// Training images the kernel machines are fitted on.
    pub kernel_train: usize,
    /// Probe images the kernel machines are tested on (the first of the probe).
    pub kernel_test: usize,
    /// Temperatures `T` of `σ(z/T)` for `ρ(Γ̃, G̃)`; the paper's is 0.3.
    pub temperatures: Vec<f32>,
    /// Ridge of the kernel machines (on the cosine-normalised kernel).
    pub ridge: f64,
    /// Checkpoints (by index in step order) for the kernel machines; empty = all.
    pub kernel_checkpoints: Vec<usize>,
    /// Frozen-gate retraining budget, if any.
    pub retrain: Option<RetrainConfig>,
    /// Checkpoints (by index) whose gates are used for retraining; empty = all.
    pub retrain_checkpoints: Vec<usize>,
    /// Forward batch size.
    pub batch: usize,
    /// Threshold of `≈₊` (0.9 in the paper).
    pub threshold: f64,
}

/// What `summary.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct StabilitySummary {
    /// The measurement settings.
    pub config: StabilityConfig,
    /// The training settings of the run.
    pub train: TrainConfig,
    /// Checkpoint steps measured.
    pub steps: Vec<usize>,
    /// Test accuracy (probe) of each checkpoint.
    pub probe_accuracy: Vec<f64>,
    /// `t_π` as a step: the first checkpoint whose frozen gates keep `ρ ≥ threshold` for
    /// every later checkpoint.
    pub t_pi_step: Option<usize>,
    /// Seconds spent in each part.
    pub seconds: Vec<(String, f64)>,
    /// Measurements not made, with the reason.
    #[serde(default)]
    pub skipped: Vec<(String, String)>,
}

fn csv(path: &Path, header: &str, rows: &[String]) -> ExperimentResult<()> {
    let mut f = std::fs::File::create(path).map_err(|e| ExperimentError::io(path, e))?;
    writeln!(f, "{header}").map_err(|e| ExperimentError::io(path, e))?;
    for r in rows {
        writeln!(f, "{r}").map_err(|e| ExperimentError::io(path, e))?;
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut w: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if w.is_empty() {
        return f64::NAN;
    }
    w.sort_by(|a, b| a.total_cmp(b));
    w[w.len() / 2]
}

/// Measures the run in `run` and writes the files listed above into `out`.
/// `infer` is a plain device, `train_dev` an autodiff device (for retraining).
#[allow(clippy::too_many_arguments)]
pub fn measure_run(
    run: &Path,
    train_data: &Dataset,
    test_data: &Dataset,
    cfg: &StabilityConfig,
    out: &Path,
    infer: &Device,
    train_dev: &Device,
    log: &mut dyn FnMut(&str),
) -> ExperimentResult<StabilitySummary> {
    let cfg_path = run.join("config.json");
    let tc: TrainConfig = serde_json::from_str(
        &std::fs::read_to_string(&cfg_path).map_err(|e| ExperimentError::io(&cfg_path, e))?,
    )
    .map_err(|e| ExperimentError::Checkpoint {
        path: cfg_path.clone(),
        reason: e.to_string(),
    })?;
    let cks = list_checkpoints(run)?;
    if cks.len() < 2 {
        return Err(ExperimentError::Checkpoint {
            path: run.to_path_buf(),
            reason: format!(
                "{} checkpoint(s); the measurements need at least two (train first)",
                cks.len()
            ),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| ExperimentError::io(out, e))?;
    let steps: Vec<usize> = cks.iter().map(|c| c.step).collect();
    let probe = Probe {
        data: test_data.take(cfg.probe_images),
        batch: cfg.batch,
    };
    let mut seconds = Vec::new();

    // Models and gates of every checkpoint.
    let t0 = Instant::now();
    let models = cks
        .iter()
        .map(|c| load_model(&tc.model, &c.dir, infer))
        .collect::<ExperimentResult<Vec<_>>>()?;
    let gates = models
        .iter()
        .map(|m| PackedGates::compute(m, &probe, infer))
        .collect::<ExperimentResult<Vec<_>>>()?;
    seconds.push(("gates".into(), t0.elapsed().as_secs_f64()));
    log(&format!(
        "gates of {} checkpoints on {} probe images: {:.1}s",
        cks.len(),
        probe.data.len(),
        t0.elapsed().as_secs_f64()
    ));

    // Gate agreement.
    let t0 = Instant::now();
    let mut rows = Vec::new();
    for s in 0..cks.len() {
        for t in s..cks.len() {
            for (k, a) in gate_agreement(&gates[s], &gates[t])?
                .into_iter()
                .enumerate()
            {
                let (name, kind) = &gates[s].names[k];
                rows.push(format!(
                    "{},{},{},{:?},{:.6}",
                    steps[s], steps[t], name, kind, a
                ));
            }
        }
    }
    csv(
        &out.join("gate_agreement.csv"),
        "s_step,t_step,layer,kind,agreement",
        &rows,
    )?;
    seconds.push(("agreement".into(), t0.elapsed().as_secs_f64()));

    // Hypothesis 1: f^(t) against f_π^(t), π = G̃^(s).
    let t0 = Instant::now();
    let c = cks.len();
    let mut rho = vec![vec![f64::NAN; c]; c];
    let mut probe_accuracy = vec![f64::NAN; c];
    let mut rows = Vec::new();
    for t in 0..c {
        for s in 0..=t {
            let r = induced_correlation(&models[t], &gates[s], &probe, infer)?;
            rho[s][t] = r.rho;
            probe_accuracy[t] = r.accuracy;
            rows.push(format!(
                "{},{},{:.6},{:.4},{:.4},{:.4}",
                steps[s], steps[t], r.rho, r.accuracy_pi, r.accuracy, r.prediction_agreement
            ));
        }
        log(&format!("induced ρ for t = {} done", steps[t]));
    }
    csv(
        &out.join("induced.csv"),
        "s_step,t_step,rho,accuracy_pi,accuracy,prediction_agreement",
        &rows,
    )?;
    let t_pi_step = t_pi(&rho, cfg.threshold).map(|i| steps[i]);
    seconds.push(("induced".into(), t0.elapsed().as_secs_f64()));

    let mut skipped = Vec::new();
    let chain = !tc.model.has_skips();
    if !chain {
        let why = "the network has skip connections: the path tensor is not a product over layers (Sec. 2.2 holds for chains only)";
        skipped.push(("excitation_corr".to_string(), why.to_string()));
        skipped.push(("kernel".to_string(), why.to_string()));
        log(&format!(
            "not measured (excitation correlation, kernel machines): {why}"
        ));
        for stale in ["excitation_corr.csv", "kernel.csv"] {
            let _ = std::fs::remove_file(out.join(stale));
        }
    }

    // Γ̃^(t) against G̃^(s).
    if chain {
        let t0 = Instant::now();
        let mut rows = Vec::new();
        for t in 0..c {
            let sets: Vec<&PackedGates> = gates[..=t].iter().collect();
            let r =
                excitation_gate_correlations(&models[t], &sets, &probe, &cfg.temperatures, infer)?;
            for (s, per_t) in r.iter().enumerate() {
                for (ti, v) in per_t.iter().enumerate() {
                    let fin: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
                    let mean = fin.iter().sum::<f64>() / fin.len().max(1) as f64;
                    let above = fin.iter().filter(|&&x| x >= cfg.threshold).count() as f64
                        / fin.len().max(1) as f64;
                    rows.push(format!(
                        "{},{},{},{:.6},{:.6},{:.4},{}",
                        steps[s],
                        steps[t],
                        cfg.temperatures[ti],
                        mean,
                        median(v),
                        above,
                        v.len() - fin.len()
                    ));
                }
            }
            log(&format!("excitation ρ for t = {} done", steps[t]));
        }
        csv(
            &out.join("excitation_corr.csv"),
            "s_step,t_step,temperature,mean_rho,median_rho,frac_above_0_9,undefined",
            &rows,
        )?;
        seconds.push(("excitation_corr".into(), t0.elapsed().as_secs_f64()));

        // Kernel machines.
        let t0 = Instant::now();
        let ktrain = Probe {
            data: train_data.take(cfg.kernel_train),
            batch: cfg.batch,
        };
        let ktest = Probe {
            data: test_data.take(cfg.kernel_test.min(cfg.probe_images)),
            batch: cfg.batch,
        };
        let which: Vec<usize> = if cfg.kernel_checkpoints.is_empty() {
            (0..c).collect()
        } else {
            cfg.kernel_checkpoints
                .iter()
                .copied()
                .filter(|&i| i < c)
                .collect()
        };
        let mut rows = Vec::new();
        let lin = kernel_machine_accuracy(
            &models[0],
            &ktrain,
            &ktest,
            KernelKind::Linear,
            cfg.ridge,
            infer,
        )?;
        rows.push(format!("-1,linear,,{lin:.4},"));
        for &i in &which {
            let net_acc =
                crate::train::evaluate(&models[i], &ktest.data, ktest.data.len(), cfg.batch, infer);
            let mut kinds = vec![KernelKind::Gates];
            kinds.push(KernelKind::Excitation(0.3));
            for kind in kinds {
                let acc =
                    kernel_machine_accuracy(&models[i], &ktrain, &ktest, kind, cfg.ridge, infer)?;
                let (name, temp) = match kind {
                    KernelKind::Gates => ("K_G", String::new()),
                    KernelKind::Excitation(t) => ("K_Gamma", t.to_string()),
                    KernelKind::Linear => ("linear", String::new()),
                };
                rows.push(format!(
                    "{},{},{},{:.4},{:.4}",
                    steps[i], name, temp, acc, net_acc
                ));
            }
            log(&format!("kernel machines for step {} done", steps[i]));
        }
        csv(
            &out.join("kernel.csv"),
            "step,kernel,temperature,accuracy,network_accuracy",
            &rows,
        )?;
        seconds.push(("kernel".into(), t0.elapsed().as_secs_f64()));
    }

    // Frozen-gate retraining.
    if let Some(rc) = &cfg.retrain {
        let t0 = Instant::now();
        let test = Probe {
            data: test_data.take(cfg.probe_images),
            batch: cfg.batch,
        };
        let mut rows = Vec::new();
        let relu = retrain_accuracy(&tc.model, None, train_data, &test, rc, infer, train_dev)?;
        rows.push(format!("relu,,{relu:.4}"));
        log(&format!("retrained ReLU network: {relu:.4}"));
        let which: Vec<usize> = if cfg.retrain_checkpoints.is_empty() {
            (0..c).collect()
        } else {
            cfg.retrain_checkpoints
                .iter()
                .copied()
                .filter(|&i| i < c)
                .collect()
        };
        for &i in &which {
            let acc = retrain_accuracy(
                &tc.model,
                Some(&models[i]),
                train_data,
                &test,
                rc,
                infer,
                train_dev,
            )?;
            let source = if steps[i] == 0 {
                "random_gates"
            } else {
                "checkpoint_gates"
            };
            rows.push(format!("{source},{},{acc:.4}", steps[i]));
            log(&format!(
                "value network on gates of step {}: {acc:.4}",
                steps[i]
            ));
        }
        csv(
            &out.join("frozen_retrain.csv"),
            "source,gate_step,accuracy",
            &rows,
        )?;
        seconds.push(("frozen_retrain".into(), t0.elapsed().as_secs_f64()));
    }

    let summary = StabilitySummary {
        config: cfg.clone(),
        train: tc,
        steps,
        probe_accuracy,
        t_pi_step,
        seconds,
        skipped,
    };
    let p = out.join("summary.json");
    std::fs::write(
        &p,
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )
    .map_err(|e| ExperimentError::io(&p, e))?;
    Ok(summary)
}
