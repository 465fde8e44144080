//! Stability quantities of Sec. 5.1.
//!
//! - Pearson correlation ρ(a, b) and the relation a ≈₊ b ⟺ ρ(a, b) ≥ threshold (0.9);
//! - f_π^(t)(X) = (⟨v_π^(t)(x_n), x̃_n⟩)_n for a frozen tensor field π and parameters θ^(t),
//!   e.g. π = G̃^(s), the hard gates of another checkpoint ([`crate::gating::CheckpointGating`]);
//! - gate agreement between two parameter sets: the fraction of hidden neurons whose hard
//!   gates coincide, per layer and overall, over a batch;
//! - ρ(Γ̃(x), π(x)) between two path tensors, computed from per-layer factors in
//!   O(R_a R_b Σ_ℓ d_ℓ): for rank-1 terms a = ⊗ a_ℓ, b = ⊗ b_ℓ over P = Π n_ℓ entries,
//!   mean(a) = Π mean(a_ℓ), mean(a ⊙ b) = Π mean(a_ℓ ⊙ b_ℓ), and sums of terms are bilinear;
//!   covariances are telescoped from centred per-factor statistics to avoid cancellation.

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
/// Mismatched lengths, fewer than 2 values, a non-finite entry, or a constant vector
/// (ρ undefined).
pub fn pearson(a: ArrayView1<f64>, b: ArrayView1<f64>) -> Result<f64> {
    check_shape("second vector of the correlation", &[a.len()], b.shape())?;
    let n = a.len();
    if n < 2 {
        return Err(Error::Undefined(format!(
            "Pearson correlation needs at least 2 values, got {n}"
        )));
    }
    if let Some(i) = a.iter().chain(b.iter()).position(|v| !v.is_finite()) {
        let (which, j) = if i < n {
            ("first", i)
        } else {
            ("second", i - n)
        };
        return Err(Error::InvalidArgument(format!(
            "entry {j} of the {which} vector is not finite"
        )));
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
        return Err(Error::Undefined(
            "Pearson correlation of a constant vector is undefined".into(),
        ));
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
pub fn induced_values(
    mlp: &Mlp,
    gating: &(impl Gating + Sync),
    class: usize,
    xs: ArrayView2<f64>,
) -> Result<Array1<f64>> {
    let v = pullbacks_batch(mlp, gating, class, xs)?;
    Ok((&v * &augment_batch(xs)).sum_axis(Axis(1)))
}

/// f_τ(X) for a general (low-rank) tensor field τ (R backward passes per input).
///
/// # Shapes
/// `xs`: N × d_0; returns N.
pub fn field_values(
    mlp: &Mlp,
    class: usize,
    field: &impl TensorField,
    xs: ArrayView2<f64>,
) -> Result<Array1<f64>> {
    mlp.check_batch(&xs)?;
    xs.outer_iter()
        .map(|x| crate::path_tensor::field_value(mlp, class, field, x))
        .collect()
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
        return Err(Error::Undefined(
            "gate agreement of an empty batch is undefined".into(),
        ));
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
    Ok(GateAgreement {
        per_layer,
        overall: same as f64 / total as f64,
    })
}

/// Centred covariance of two factors over their n entries, mean((a − ā)(b − b̄)), computed
/// from centred values (no E\[ab\] − ĀB̄ cancellation); exactly 0 if either is constant.
fn factor_cov(a: &Array1<f64>, b: &Array1<f64>) -> f64 {
    let constant = |f: &Array1<f64>| f.iter().all(|&v| v == f[0]);
    if constant(a) || constant(b) {
        return 0.0;
    }
    let (ma, mb) = (mean_of(a), mean_of(b));
    a.iter()
        .zip(b.iter())
        .map(|(&x, &y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / a.len() as f64
}

fn mean_of(f: &Array1<f64>) -> f64 {
    f.mean().expect("non-empty factor")
}

/// cov(⊗_ℓ a_ℓ, ⊗_ℓ b_ℓ) over all P entries. With p_ℓ = mean(a_ℓ) mean(b_ℓ) and
/// c_ℓ = cov(a_ℓ, b_ℓ) (per factor), E\[AB\] = Π_ℓ (p_ℓ + c_ℓ) and E\[A\]E\[B\] = Π_ℓ p_ℓ, and
/// their difference is telescoped as Σ_k (Π_{j<k} p_j) c_k (Π_{j>k} (p_j + c_j)), so a
/// nearly constant tensor (e.g. saturated gates) keeps its small variance to full relative
/// precision instead of losing it in E\[A²\] − E\[A\]².
fn rank_one_cov(
    a: &crate::path_tensor::RankOneTensor,
    b: &crate::path_tensor::RankOneTensor,
) -> f64 {
    let stats: Vec<(f64, f64)> = a
        .factors()
        .iter()
        .zip(b.factors())
        .map(|(fa, fb)| (mean_of(fa) * mean_of(fb), factor_cov(fa, fb)))
        .collect();
    let mut total = 0.0;
    let mut upper = 1.0; // Π_{j>k} (p_j + c_j), built from the last layer down
    for k in (0..stats.len()).rev() {
        let lower: f64 = stats[..k].iter().map(|(p, _)| p).product();
        total += lower * stats[k].1 * upper;
        upper *= stats[k].0 + stats[k].1;
    }
    total
}

/// cov(a, b) over all entries of two low-rank tensors (bilinear in the terms), and the
/// sum of the magnitudes of the term covariances (the scale of its rounding error).
fn low_rank_cov(a: &LowRankTensor, b: &LowRankTensor) -> (f64, f64) {
    let (mut cov, mut scale) = (0.0, 0.0);
    for ta in a.terms() {
        for tb in b.terms() {
            let c = rank_one_cov(ta, tb);
            cov += c;
            scale += c.abs();
        }
    }
    (cov, scale)
}

/// ρ(a, b) of two path tensors over all their entries, from the per-layer factors only
/// (never materialised): O(R_a R_b Σ_ℓ d_ℓ). Covariances are formed from centred factor
/// statistics (see `rank_one_cov`), so ρ stays accurate for nearly constant tensors.
///
/// # Shapes
/// `a`, `b`: equal shapes (n_1, …, n_L), any ranks.
///
/// # Errors
/// Different shapes, or a constant tensor (for a sum of several terms: a variance that
/// cancels to below 1e-14 of the magnitude of its terms, i.e. below rounding).
pub fn tensor_pearson(a: &LowRankTensor, b: &LowRankTensor) -> Result<f64> {
    check_shape("second path tensor", &a.shape(), &b.shape())?;
    let (var_a, scale_a) = low_rank_cov(a, a);
    let (var_b, scale_b) = low_rank_cov(b, b);
    let (cov, _) = low_rank_cov(a, b);
    let undefined = |var: f64, scale: f64| var.is_nan() || var <= 1e-14 * scale;
    if undefined(var_a, scale_a) || undefined(var_b, scale_b) {
        return Err(Error::Undefined(
            "Pearson correlation of a constant path tensor is undefined".into(),
        ));
    }
    Ok((cov / (var_a.sqrt() * var_b.sqrt())).clamp(-1.0, 1.0))
}

/// ρ(Γ̃(x), π(x)) for an excitation gating Γ and a tensor field π (Hypothesis 1), over the
/// augmented paths 𝒫̃₁: the paper's reading, since its d_ℓ silently include the bias
/// coordinate (Sec. 2.1, "Conventions"). Γ̃ is 1 on the constant-neuron entries, and so is
/// any π built from gates, which pulls ρ up on narrow networks;
/// [`excitation_correlation_real_paths`] leaves those entries out.
///
/// # Shapes
/// `x`: d_0; `pi` gives tensors of shape (d_1+1, …, d_L+1).
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

/// ρ(Γ̃(x), π(x)) over the paths through real neurons only (Π_ℓ d_ℓ entries, the bias-free
/// reading of Hypothesis 1): both tensors restricted with [`LowRankTensor::real_paths`],
/// then [`tensor_pearson`]. Unlike [`excitation_correlation`], the constant entries shared
/// by both tensors do not contribute, so ρ measures the agreement of the gates alone.
///
/// # Shapes
/// `x`: d_0; `pi` gives tensors of shape (d_1+1, …, d_L+1) (its constant-neuron entries are
/// ignored).
pub fn excitation_correlation_real_paths(
    mlp: &Mlp,
    excitation: &impl Gating,
    pi: &impl TensorField,
    x: ArrayView1<f64>,
) -> Result<f64> {
    let gamma = crate::path_tensor::GateTensorField(excitation).tensor(mlp, x)?;
    let p = pi.tensor(mlp, x)?;
    crate::error::check_shape("tensor of π (d_1+1, …, d_L+1)", &gamma.shape(), &p.shape())?;
    tensor_pearson(&gamma.real_paths()?, &p.real_paths()?)
}
