//! Hypothesis 1 with `π = G̃^(s)`: the network `f^(t)` (parameters `θ^(t)`) against
//! `f_π^(t)`, the same parameters with every gate frozen to checkpoint `s`'s gates
//! (`f_π^(t)(x) = ⟨ω^(t), φ_π(x)⟩`, Sec. 5.2), compared by the Pearson correlation of their
//! logits over the probe set (all classes, `ρ(f^(t)(X), f_π^(t)(X))`), and the earliest
//! `t_π` after which it stays above a threshold.

use burn::tensor::Device;
use serde::Serialize;

use super::pearson;
use super::probe::{PackedGates, Probe};
use crate::backend::tensor_to_vec;
use crate::experiment_error::ExperimentResult;
use crate::small_nets::{GateMode, GatedNetwork};

/// One `(s, t)` comparison.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct InducedCorrelation {
    /// Pearson `ρ(f^(t)(X), f_π^(t)(X))` over all probe logits.
    pub rho: f64,
    /// Accuracy of `f_π^(t)` on the probe labels.
    pub accuracy_pi: f64,
    /// Accuracy of `f^(t)`.
    pub accuracy: f64,
    /// Fraction of probe images where `f_π^(t)` and `f^(t)` predict the same class.
    pub prediction_agreement: f64,
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(0, |b, (i, &v)| if v > row[b] { i } else { b })
}

/// Compares `model` (checkpoint `t`) with itself under the frozen gates `gates_s`
/// (checkpoint `s`'s gates on the same probe).
pub fn induced_correlation(
    model: &dyn GatedNetwork,
    gates_s: &PackedGates,
    probe: &Probe,
    device: &Device,
) -> ExperimentResult<InducedCorrelation> {
    let (mut f, mut fpi) = (Vec::new(), Vec::new());
    for r in probe.batches() {
        let x = probe.images(r.clone(), device);
        let g = gates_s.gates(r, device);
        let a = model.forward_traced(x.clone(), GateMode::Relu)?.logits;
        let b = model.forward_traced(x, GateMode::Frozen(&g))?.logits;
        f.extend(tensor_to_vec(a)?);
        fpi.extend(tensor_to_vec(b)?);
    }
    let c = f.len() / probe.data.len().max(1);
    let (mut right, mut right_pi, mut same) = (0, 0, 0);
    for (i, &label) in probe.data.labels.iter().enumerate() {
        let p = argmax(&f[i * c..(i + 1) * c]);
        let q = argmax(&fpi[i * c..(i + 1) * c]);
        right += (p == label as usize) as usize;
        right_pi += (q == label as usize) as usize;
        same += (p == q) as usize;
    }
    let n = probe.data.len().max(1) as f64;
    let to64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    Ok(InducedCorrelation {
        rho: pearson(&to64(&f), &to64(&fpi)),
        accuracy_pi: right_pi as f64 / n,
        accuracy: right as f64 / n,
        prediction_agreement: same as f64 / n,
    })
}

/// `t_π` for a matrix of correlations `rho[s][t]` (checkpoint indices, `s ≤ t`): the first
/// checkpoint `s` such that `ρ(s, t) ≥ threshold` for every later `t ≥ s`, i.e. the
/// earliest frozen gates that carry the rest of training. `None` if only the last
/// checkpoint qualifies trivially (then no earlier gates do).
pub fn t_pi(rho: &[Vec<f64>], threshold: f64) -> Option<usize> {
    let c = rho.len();
    (0..c.saturating_sub(1)).find(|&s| (s..c).all(|t| rho[s][t] >= threshold))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::small_nets::PlainCnnConfig;

    /// Gates of the checkpoint itself: `f_π = f` exactly, so ρ = 1 and the accuracies agree.
    #[test]
    fn own_gates_give_rho_one() {
        let dev = Device::flex();
        dev.seed(4);
        let cfg = PlainCnnConfig {
            image_size: 8,
            channels: vec![4, 8],
            ..PlainCnnConfig::fashion_mnist(true)
        };
        let net = cfg.init(&dev).unwrap();
        let pixels: Vec<u8> = (0..12 * 64).map(|i| ((i * 37) % 256) as u8).collect();
        let labels: Vec<u8> = (0..12).map(|i| (i % 10) as u8).collect();
        let data =
            Dataset::new(pixels, labels, 1, 8, 8, crate::data::FASHION_MNIST_CLASSES).unwrap();
        let probe = Probe { data, batch: 5 };
        let own = PackedGates::compute(&net, &probe, &dev).unwrap();
        let r = induced_correlation(&net, &own, &probe, &dev).unwrap();
        assert_eq!(r.rho, 1.0);
        assert_eq!(r.accuracy, r.accuracy_pi);
        assert_eq!(r.prediction_agreement, 1.0);
        // Another network's gates: a different function.
        dev.seed(5);
        let other = cfg.init(&dev).unwrap();
        let g2 = PackedGates::compute(&other, &probe, &dev).unwrap();
        let r2 = induced_correlation(&net, &g2, &probe, &dev).unwrap();
        assert!(r2.rho < 0.999, "{}", r2.rho);
    }

    /// The same on the small ResNet (gates frozen at every ReLU application, skips
    /// included); the chain-only measurements refuse it with a reason.
    #[test]
    fn resnet_own_gates_give_rho_one_and_chain_measures_refuse_it() {
        let dev = Device::flex();
        dev.seed(6);
        let cfg = crate::small_nets::SmallResNetConfig {
            in_channels: 1,
            image_size: 8,
            base_width: 4,
            blocks_per_stage: vec![1, 1],
            num_classes: 10,
        };
        let net = crate::small_nets::SmallNetConfig::from(cfg)
            .init(&dev)
            .unwrap();
        let pixels: Vec<u8> = (0..6 * 64).map(|i| ((i * 41) % 256) as u8).collect();
        let data = Dataset::new(
            pixels,
            (0..6).collect(),
            1,
            8,
            8,
            crate::data::FASHION_MNIST_CLASSES,
        )
        .unwrap();
        let probe = Probe { data, batch: 4 };
        let own = PackedGates::compute(&net, &probe, &dev).unwrap();
        assert_eq!(own.names.len(), 5);
        let r = induced_correlation(&net, &own, &probe, &dev).unwrap();
        assert_eq!((r.rho, r.prediction_agreement), (1.0, 1.0));
        let err = super::super::excitation_corr::excitation_gate_correlation(
            &net,
            &own,
            &probe,
            &[0.3],
            &dev,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("skip connections"), "{err}");
        let k = super::super::kernel_machine::kernel_machine_accuracy(
            &net,
            &probe,
            &probe,
            super::super::kernel_machine::KernelKind::Gates,
            1e-2,
            &dev,
        );
        assert!(k.unwrap_err().to_string().contains("skip connections"));
    }

    #[test]
    fn t_pi_is_first_stable_checkpoint() {
        let rho = vec![
            vec![1.0, 0.5, 0.4, 0.3],
            vec![0.0, 1.0, 0.95, 0.92],
            vec![0.0, 0.0, 1.0, 0.97],
            vec![0.0, 0.0, 0.0, 1.0],
        ];
        assert_eq!(t_pi(&rho, 0.9), Some(1));
        assert_eq!(t_pi(&rho, 0.93), Some(2));
        assert_eq!(t_pi(&rho, 0.99), None);
    }
}
