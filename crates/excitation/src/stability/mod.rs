//! Gate-stability measurements over training checkpoints (Sec. 5 of the paper): how the
//! gates `G^(t)` move, whether the network with gates frozen to an earlier checkpoint's
//! tracks the network (Hypothesis 1), whether the excitation tensor `Γ̃^(t)` correlates
//! with those gates, what the product kernels `K_G`, `K_Γ` (Eq. 23) achieve as kernel
//! machines, and what a value network trained on frozen gates reaches (Lakshminarayanan &
//! Singh 2020).
//!
//! Everything is measured on a fixed probe set and written as numbers (CSV/JSON) first;
//! figures are drawn from those files by a separate step.

pub mod agreement;
pub mod excitation_corr;
pub mod experiment;
pub mod frozen_retrain;
pub mod induced;
pub mod kernel;
pub mod kernel_machine;
mod pathspace_parity;
pub mod probe;
pub mod tensor_corr;

pub use agreement::gate_agreement;
pub use induced::{induced_correlation, t_pi, InducedCorrelation};
pub use probe::{PackedGates, Probe};
pub use tensor_corr::{rank1_pearson, LayerSums};

/// Pearson correlation of two equally long samples (`NaN` if either is constant).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "pearson of samples of different lengths");
    let n = a.len() as f64;
    if a.is_empty() {
        return f64::NAN;
    }
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut c, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        c += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    if va == 0.0 || vb == 0.0 {
        return f64::NAN;
    }
    c / (va * vb).sqrt()
}
