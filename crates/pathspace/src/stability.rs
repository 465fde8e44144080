//! Stability quantities of Sec. 5.1.
//!
//! - Pearson correlation ρ(a, b) and the relation a ≈₊ b ⟺ ρ(a, b) ≥ threshold (0.9);
//! - f_π^(t)(X) = (⟨v_π^(t)(x_n), x̃_n⟩)_n for a frozen tensor field π and parameters θ^(t),
//!   e.g. π = G̃^(s), the hard gates of another checkpoint ([`crate::gating::CheckpointGating`]);
//! - gate agreement between two parameter sets: the fraction of hidden neurons whose hard
//!   gates coincide, per layer and overall, over a batch;
//! - ρ(Γ̃(x), π(x)) between two path tensors, computed from per-layer factors in
//!   O(R_a R_b Σ_ℓ d_ℓ): for rank-1 terms a = ⊗ a_ℓ, b = ⊗ b_ℓ over P = Π n_ℓ entries,
//!   mean(a) = Π mean(a_ℓ), mean(a ⊙ b) = Π mean(a_ℓ ⊙ b_ℓ), and sums of terms are bilinear.

use ndarray::{Array1, ArrayView1, ArrayView2, Axis};

use crate::error::{check_shape, Error, Result};
use crate::gating::{Gating, HardGating};
use crate::mlp::{augment_batch, Mlp};
use crate::path_tensor::{LowRankTensor, TensorField};
use crate::pullback::pullbacks_batch;

/// The paper's example threshold for "strongly positively correlated" (ρ > 0.9).
pub const STRONG_CORRELATION: f64 = 0.9;

/// Pearson correlation coefficient ρ(a, b).
///
/// # Shapes
/// `a`, `b`: n ≥ 2.
///
/// # Errors
/// Mismatched lengths, fewer than 2 values, or a constant vector (ρ undefined).
pub fn pearson(a: ArrayView1<f64>, b: ArrayView1<f64>) -> Result<f64> {
    check_shape("second vector of the correlation", &[a.len()], b.shape())?;
    let n = a.len();
    if n < 2 {
        return Err(Error::Undefined(format!("Pearson correlation needs at least 2 values, got {n}")));
    }
    let ma = a.mean().expect("n >= 2");
    let mb = b.mean().expect("n >= 2");
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b.iter()) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa == 0.0 || sbb == 0.0 {
        return Err(Error::Undefined("Pearson correlation of a constant vector is undefined".into()));
    }
    Ok(sab / (saa.sqrt() * sbb.sqrt()))
}

/// a ≈₊ b: ρ(a, b) ≥ `threshold` (Sec. 5.1; the paper uses 0.9 as an example).
///
/// # Shapes
/// `a`, `b`: n ≥ 2.
pub fn strongly_correlated(a: ArrayView1<f64>, b: ArrayView1<f64>, threshold: f64) -> Result<bool> {
    Ok(pearson(a, b)? >= threshold)
}

/// f_Λ(X) = (⟨v_Λ(x_n), x̃_n⟩)_n for a gating Λ: with the gates of another checkpoint this
/// is f_π^(t)(X) for the frozen binary field π = G̃^(s); with [`HardGating`] it is f(X).
///
/// # Shapes
/// `xs`: N × d_0; returns N.
pub fn induced_values(mlp: &Mlp, gating: &(impl Gating + Sync), class: usize, xs: ArrayView2<f64>) -> Result<Array1<f64>> {
    let v = pullbacks_batch(mlp, gating, class, xs)?;
    Ok((&v * &augment_batch(xs)).sum_axis(Axis(1)))
}

/// f_τ(X) for a general (low-rank) tensor field τ (R backward passes per input).
///
/// # Shapes
/// `xs`: N × d_0; returns N.
pub fn field_values(mlp: &Mlp, class: usize, field: &impl TensorField, xs: ArrayView2<f64>) -> Result<Array1<f64>> {
    mlp.check_batch(&xs)?;
    xs.outer_iter().map(|x| crate::path_tensor::field_value(mlp, class, field, x)).collect()
}

/// Agreement of the hard gates of two parameter sets on a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct GateAgreement {
    /// Fraction of (input, neuron) pairs of layer ℓ with equal gates, `per_layer[ℓ-1]`.
    pub per_layer: Vec<f64>,
    /// Fraction over all hidden neurons of all layers.
    pub overall: f64,
}

/// The fraction of equal hard gates g^(a)_ℓ(x_n)\[i\] = g^(b)_ℓ(x_n)\[i\] (same widths required).
///
/// # Shapes
/// `xs`: N × d_0 (N ≥ 1).
pub fn gate_agreement(a: &Mlp, b: &Mlp, xs: ArrayView2<f64>) -> Result<GateAgreement> {
    check_shape("widths of the second network", &a.dims(), &b.dims())?;
    if xs.nrows() == 0 {
        return Err(Error::Undefined("gate agreement of an empty batch is undefined".into()));
    }
    let ga = HardGating.gates_batch(a, xs)?;
    let gb = HardGating.gates_batch(b, xs)?;
    let mut per_layer = Vec::with_capacity(ga.len());
    let (mut same, mut total) = (0usize, 0usize);
    for (x, y) in ga.iter().zip(&gb) {
        let s = x.iter().zip(y.iter()).filter(|(p, q)| p == q).count();
        per_layer.push(s as f64 / x.len() as f64);
        same += s;
        total += x.len();
    }
    Ok(GateAgreement { per_layer, overall: same as f64 / total as f64 })
}

/// mean over all P entries of (Σ_r ⊗ a_r) ⊙ (Σ_s ⊗ b_s) = Σ_{r,s} Π_ℓ mean(a_{r,ℓ} ⊙ b_{s,ℓ}).
fn mean_product(a: &LowRankTensor, b: &LowRankTensor) -> f64 {
    let mut total = 0.0;
    for ta in a.terms() {
        for tb in b.terms() {
            total += ta
                .factors()
                .iter()
                .zip(tb.factors())
                .map(|(fa, fb)| fa.dot(fb) / fa.len() as f64)
                .product::<f64>();
        }
    }
    total
}

fn mean(a: &LowRankTensor) -> f64 {
    a.terms()
        .iter()
        .map(|t| t.factors().iter().map(|f| f.mean().expect("non-empty factor")).product::<f64>())
        .sum()
}

/// ρ(a, b) of two path tensors over all their entries, from the per-layer factors only
/// (never materialised): O(R_a R_b Σ_ℓ d_ℓ).
///
/// # Shapes
/// `a`, `b`: equal shapes (n_1, …, n_L), any ranks.
///
/// # Errors
/// Different shapes, or a constant tensor.
pub fn tensor_pearson(a: &LowRankTensor, b: &LowRankTensor) -> Result<f64> {
    check_shape("second path tensor", &a.shape(), &b.shape())?;
    let (ma, mb) = (mean(a), mean(b));
    let var_a = mean_product(a, a) - ma * ma;
    let var_b = mean_product(b, b) - mb * mb;
    let cov = mean_product(a, b) - ma * mb;
    let scale_a = mean_product(a, a).abs().max(f64::MIN_POSITIVE);
    let scale_b = mean_product(b, b).abs().max(f64::MIN_POSITIVE);
    if var_a <= 1e-14 * scale_a || var_b <= 1e-14 * scale_b {
        return Err(Error::Undefined(
            "Pearson correlation of a constant path tensor is undefined".into(),
        ));
    }
    Ok((cov / (var_a.sqrt() * var_b.sqrt())).clamp(-1.0, 1.0))
}

/// ρ(Γ̃(x), π(x)) for an excitation gating Γ and a tensor field π (Hypothesis 1).
///
/// # Shapes
/// `x`: d_0.
pub fn excitation_correlation(
    mlp: &Mlp,
    excitation: &impl Gating,
    pi: &impl TensorField,
    x: ArrayView1<f64>,
) -> Result<f64> {
    let gamma = crate::path_tensor::GateTensorField(excitation).tensor(mlp, x)?;
    let p = pi.tensor(mlp, x)?;
    tensor_pearson(&gamma, &p)
}
