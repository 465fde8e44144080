//! `Γ̃^(t)(x) ≈₊ π(x)`: the Pearson correlation, per probe image, between the excitation
//! tensor `Γ̃^(t)(x) = ⊗_ℓ γ_ℓ(x)` of checkpoint `t` (`γ_ℓ = σ(z_ℓ/T)`, Eq. 21) and the
//! binary path tensor `π(x) = G̃^(s)(x) = ⊗_ℓ g_ℓ^(s)(x)` of checkpoint `s`, from per-layer
//! sums ([`super::tensor_corr`]); never materialised.
//!
//! Layers: one factor per conv unit. A ReLU followed by a max-pool gates the same units
//! twice with no weights between, so the two gatings form one factor (the product of the
//! ReLU gate and the pool's arg-max mask; for `Γ` the product of `σ(z/T)` and the softmax
//! pool weights at the same `T`). Every factor is augmented with the constant bias unit.

use burn::tensor::{Device, Tensor};

use super::probe::{PackedGates, Probe};
use super::tensor_corr::{rank1_pearson, LayerSums};
use crate::backend::tensor_to_f64;
use crate::experiment_error::{ExperimentError, ExperimentResult};
use crate::small_nets::gating::{relu_excitation, soft_pool_weights};
use crate::small_nets::{GateKind, GateMode, GatedNetwork, Gates, Trace};

/// Groups gate layers into units: each ReLU with the max-pool right after it, if any.
pub fn units(names: &[(String, GateKind)]) -> Vec<(usize, Option<usize>)> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < names.len() {
        if names[k].1 == GateKind::Relu {
            let pool =
                (k + 1 < names.len() && names[k + 1].1 == GateKind::MaxPool).then_some(k + 1);
            out.push((k, pool));
            k += if pool.is_some() { 2 } else { 1 };
        } else {
            // A pool with no ReLU before it: a unit of its own.
            out.push((k, None));
            k += 1;
        }
    }
    out
}

/// Excitation factors `γ` of each unit at temperature `T` from a forward trace.
///
/// # Shapes
/// Each `[N, C, H, W]`.
pub fn excitation_factors(trace: &Trace, temperature: f32) -> ExperimentResult<Vec<Tensor<4>>> {
    units(&trace.gate_names)
        .into_iter()
        .map(|(k, pool)| {
            let z = &trace.gate_inputs[k];
            let mut f = match trace.gate_names[k].1 {
                GateKind::Relu => relu_excitation(z, temperature),
                GateKind::MaxPool => soft_pool_weights(z, temperature)?,
            };
            if let Some(p) = pool {
                f = f * soft_pool_weights(&trace.gate_inputs[p], temperature)?;
            }
            Ok(f)
        })
        .collect()
}

/// Binary factors `g` of each unit from gates.
///
/// # Shapes
/// Each `[N, C, H, W]`.
pub fn gate_factors(gates: &Gates) -> Vec<Tensor<4>> {
    let names: Vec<(String, GateKind)> = gates
        .layers
        .iter()
        .map(|l| (l.name.clone(), l.kind))
        .collect();
    units(&names)
        .into_iter()
        .map(|(k, pool)| match pool {
            Some(p) => gates.layers[k].mask.clone() * gates.layers[p].mask.clone(),
            None => gates.layers[k].mask.clone(),
        })
        .collect()
}

fn per_image_sum(t: Tensor<4>) -> ExperimentResult<Vec<f64>> {
    tensor_to_f64(t.sum_dims(&[1, 2, 3]))
}

/// Per-image augmented [`LayerSums`] of factor lists `a` (excitations) and `b` (gates).
pub fn factor_sums(a: &[Tensor<4>], b: &[Tensor<4>]) -> ExperimentResult<Vec<Vec<LayerSums>>> {
    let n = a.first().map(|t| t.dims()[0]).unwrap_or(0);
    let mut out = vec![Vec::with_capacity(a.len()); n];
    for (fa, fb) in a.iter().zip(b) {
        let [_, c, h, w] = fa.dims();
        let sa = per_image_sum(fa.clone())?;
        let sb = per_image_sum(fb.clone())?;
        let sab = per_image_sum(fa.clone() * fb.clone())?;
        let saa = per_image_sum(fa.clone() * fa.clone())?;
        let sbb = per_image_sum(fb.clone() * fb.clone())?;
        for i in 0..n {
            out[i].push(
                LayerSums {
                    dim: (c * h * w) as f64,
                    a: sa[i],
                    b: sb[i],
                    ab: sab[i],
                    aa: saa[i],
                    bb: sbb[i],
                }
                .augmented(),
            );
        }
    }
    Ok(out)
}

/// Per-image `ρ(Γ̃^(t)(x), G̃^(s)(x))` for each temperature, over the probe.
///
/// Returns `[temperature][image]`.
pub fn excitation_gate_correlation(
    model_t: &dyn GatedNetwork,
    gates_s: &PackedGates,
    probe: &Probe,
    temperatures: &[f32],
    device: &Device,
) -> ExperimentResult<Vec<Vec<f64>>> {
    Ok(excitation_gate_correlations(model_t, &[gates_s], probe, temperatures, device)?.remove(0))
}

/// [`excitation_gate_correlation`] against several checkpoints' gates at once (one forward
/// pass of `model_t` per batch). Returns `[gate set][temperature][image]`.
pub fn excitation_gate_correlations(
    model_t: &dyn GatedNetwork,
    gate_sets: &[&PackedGates],
    probe: &Probe,
    temperatures: &[f32],
    device: &Device,
) -> ExperimentResult<Vec<Vec<Vec<f64>>>> {
    if model_t.has_skips() {
        return Err(ExperimentError::Config(
            "ρ(Γ̃, G̃) from per-layer factors needs a chain network: with skip connections the path tensor is not a product over layers".into(),
        ));
    }
    let mut out =
        vec![vec![Vec::with_capacity(probe.data.len()); temperatures.len()]; gate_sets.len()];
    for r in probe.batches() {
        let tr = model_t.forward_traced(probe.images(r.clone(), device), GateMode::Relu)?;
        let es: Vec<Vec<Tensor<4>>> = temperatures
            .iter()
            .map(|&t| excitation_factors(&tr, t))
            .collect::<ExperimentResult<_>>()?;
        for (si, gs) in gate_sets.iter().enumerate() {
            let g = gate_factors(&gs.gates(r.clone(), device));
            for (ti, e) in es.iter().enumerate() {
                out[si][ti].extend(factor_sums(e, &g)?.iter().map(|s| rank1_pearson(s)));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::small_nets::PlainCnnConfig;

    fn outer(factors: &[Vec<f64>]) -> Vec<f64> {
        factors.iter().fold(vec![1.0], |acc, f| {
            acc.iter()
                .flat_map(|&x| f.iter().map(move |&y| x * y))
                .collect()
        })
    }

    /// On a tiny CNN (units of 2·4·4, 3·2·2 entries: the tensor has 33·13 entries with the
    /// bias units) the factor route equals the Pearson correlation of the materialised
    /// tensors; at a low temperature `Γ̃` approaches the network's own `G̃` (ρ → 1).
    #[test]
    fn factor_route_matches_materialised_tensor() {
        let dev = Device::flex();
        dev.seed(9);
        let cfg = PlainCnnConfig {
            image_size: 4,
            channels: vec![2, 3],
            ..PlainCnnConfig::fashion_mnist(false)
        };
        let net = cfg.init(&dev).unwrap();
        let pixels: Vec<u8> = (0..3 * 16).map(|i| ((i * 53) % 256) as u8).collect();
        let data = Dataset::new(
            pixels,
            vec![0, 1, 2],
            1,
            4,
            4,
            crate::data::FASHION_MNIST_CLASSES,
        )
        .unwrap();
        let probe = Probe { data, batch: 3 };
        let own = PackedGates::compute(&net, &probe, &dev).unwrap();
        let tr = net
            .forward_traced(probe.images(0..3, &dev), GateMode::Relu)
            .unwrap();
        let e = excitation_factors(&tr, 0.5).unwrap();
        let g = gate_factors(&own.gates(0..3, &dev));
        let rho = excitation_gate_correlation(&net, &own, &probe, &[0.5, 1e-4], &dev).unwrap();
        for i in 0..3 {
            let vec_of = |t: &Tensor<4>| -> Vec<f64> {
                let [_, c, h, w] = t.dims();
                let v = t.clone().into_data().try_to_vec::<f32>().unwrap();
                v[i * c * h * w..(i + 1) * c * h * w]
                    .iter()
                    .map(|&x| x as f64)
                    .chain([1.0])
                    .collect()
            };
            let a = outer(&e.iter().map(vec_of).collect::<Vec<_>>());
            let b = outer(&g.iter().map(vec_of).collect::<Vec<_>>());
            let direct = super::super::pearson(&a, &b);
            assert!(
                (rho[0][i] - direct).abs() < 1e-4,
                "image {i}: {} vs {direct}",
                rho[0][i]
            );
            assert!(rho[1][i] > 0.999, "cold Γ should equal G: {}", rho[1][i]);
        }
    }
}
