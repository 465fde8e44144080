//! Kernel machines with the product kernels `K_G` and `K_Γ` (Eq. 23) of a checkpoint:
//! kernel ridge regression on one-hot targets over a training subset, tested on the probe
//! set, beside the network's own accuracy.

use burn::tensor::{Device, Tensor};
use serde::Serialize;

use super::excitation_corr::{excitation_factors, gate_factors};
use super::kernel::{kernel_ridge_fit, kernel_ridge_predict, log_product_kernel};
use super::probe::Probe;
use crate::backend::tensor_to_f64;
use crate::experiment_error::{ExperimentError, ExperimentResult};
use crate::small_nets::{GateMode, GatedNetwork};

/// Which gating's kernel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum KernelKind {
    /// `K_G`: binary gates.
    Gates,
    /// `K_Γ`: excitations `σ(z/T)` at this temperature.
    Excitation(f32),
    /// `⟨x̃, x̃'⟩` alone (no layers): the linear baseline.
    Linear,
}

/// Flattened per-unit factors and inputs of a set of images: `[N, d_ℓ]` each.
struct Features {
    input: Tensor<2>,
    layers: Vec<Tensor<2>>,
}

fn features(
    model: &dyn GatedNetwork,
    probe: &Probe,
    kind: KernelKind,
    device: &Device,
) -> ExperimentResult<Features> {
    let mut inputs = Vec::new();
    let mut per_layer: Vec<Vec<Tensor<2>>> = Vec::new();
    for r in probe.batches() {
        let x = probe.images(r, device);
        let tr = model.forward_traced(x.clone(), GateMode::Relu)?;
        let f = match kind {
            KernelKind::Gates => gate_factors(&tr.gates()?),
            KernelKind::Excitation(t) => excitation_factors(&tr, t)?,
            KernelKind::Linear => Vec::new(),
        };
        inputs.push(x.flatten::<2>(1, 3));
        for (k, t) in f.into_iter().enumerate() {
            if per_layer.len() <= k {
                per_layer.push(Vec::new());
            }
            per_layer[k].push(t.flatten::<2>(1, 3));
        }
    }
    Ok(Features {
        input: Tensor::cat(inputs, 0),
        layers: per_layer.into_iter().map(|v| Tensor::cat(v, 0)).collect(),
    })
}

fn gram(a: &Tensor<2>, b: &Tensor<2>) -> ExperimentResult<Vec<f64>> {
    tensor_to_f64(a.clone().matmul(b.clone().transpose()))
}

fn self_log_diag(f: &Features) -> ExperimentResult<Vec<f64>> {
    let sq = |t: &Tensor<2>| tensor_to_f64((t.clone() * t.clone()).sum_dim(1));
    let mut d: Vec<f64> = sq(&f.input)?.into_iter().map(|v| (v + 1.0).ln()).collect();
    for l in &f.layers {
        for (di, v) in d.iter_mut().zip(sq(l)?) {
            *di += (v + 1.0).ln();
        }
    }
    Ok(d)
}

/// Test accuracy of the kernel-ridge classifier with `model`'s kernel of `kind`, trained
/// on `train` (its labels) and tested on `test`, with ridge `ridge` on the normalised kernel.
pub fn kernel_machine_accuracy(
    model: &dyn GatedNetwork,
    train: &Probe,
    test: &Probe,
    kind: KernelKind,
    ridge: f64,
    device: &Device,
) -> ExperimentResult<f64> {
    if model.has_skips() && kind != KernelKind::Linear {
        return Err(ExperimentError::Config(
            "the product kernel of Eq. 23 needs a chain network: with skip connections φ_Λ is not a tensor product over layers".into(),
        ));
    }
    let ftr = features(model, train, kind, device)?;
    let fte = features(model, test, kind, device)?;
    let (n, m) = (train.data.len(), test.data.len());
    let dtr = self_log_diag(&ftr)?;
    let dte = self_log_diag(&fte)?;
    let ktt = log_product_kernel(
        n,
        n,
        &gram(&ftr.input, &ftr.input)?,
        &ftr.layers
            .iter()
            .map(|l| gram(l, l))
            .collect::<ExperimentResult<Vec<_>>>()?,
    )?;
    let kst = log_product_kernel(
        m,
        n,
        &gram(&fte.input, &ftr.input)?,
        &fte.layers
            .iter()
            .zip(&ftr.layers)
            .map(|(a, b)| gram(a, b))
            .collect::<ExperimentResult<Vec<_>>>()?,
    )?;
    let alpha = kernel_ridge_fit(
        &ktt.normalized(&dtr, &dtr),
        &train.data.labels,
        train.data.class_names.len(),
        ridge,
    )?;
    let pred = kernel_ridge_predict(&kst.normalized(&dte, &dtr), m, &alpha);
    let right = pred
        .iter()
        .zip(&test.data.labels)
        .filter(|(p, l)| **p == **l as usize)
        .count();
    Ok(right as f64 / m.max(1) as f64)
}
