//! Tensor fields over paths and their pullbacks (Sec. 3.2, Eq. 12–15).
//!
//! A tensor τ ∈ R^{𝒫̃₁} ≅ ⊗_ℓ R^{d_ℓ+1} weighs the atoms: v_τ = Σ_p τ_p a_p (Eq. 14) and
//! f_τ(x) = ⟨v_τ(x), x̃⟩ (Eq. 15). Three representations:
//!
//! - [`RankOneTensor`] ⊗_ℓ a_ℓ, e.g. Λ̃(x) = ⊗_ℓ λ̃_ℓ(x) (Eq. 12–13), λ̃_ℓ = \[λ_ℓ; 1\];
//! - [`LowRankTensor`] Σ_{r=1}^{R} ⊗_ℓ a_{r,ℓ}: any tensor at any size; its pullback costs
//!   R backward passes (one batched matrix product chain), never a sum over paths;
//! - dense `ArrayD` of shape (d_1+1, …, d_L+1), for tiny networks: pullback by the explicit
//!   path sum of [`crate::atoms`].
//!
//! The factor of a constant neuron is an ordinary coordinate here (a general τ may weigh
//! bias paths as it likes); tensors built from gates put 1 there.

use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, Axis, IxDyn};

use crate::atoms::{path_sum, MultiIndex};
use crate::error::{check_shape, Error, Result};
use crate::gating::{Gates, Gating};
use crate::mlp::{augment, head, Mlp};
use crate::pullback::backward_rows;

/// A rank-1 tensor ⊗_ℓ a_ℓ with a_ℓ ∈ R^{d_ℓ+1}.
#[derive(Clone, Debug, PartialEq)]
pub struct RankOneTensor {
    factors: Vec<Array1<f64>>,
}

impl RankOneTensor {
    /// ⊗_ℓ `factors[ℓ-1]`.
    ///
    /// # Shapes
    /// `factors[ℓ-1]`: d_ℓ + 1 (augmented: last entry weighs the constant neuron).
    pub fn new(factors: Vec<Array1<f64>>) -> Result<Self> {
        if factors.is_empty() || factors.iter().any(|f| f.is_empty()) {
            return Err(Error::InvalidArgument(
                "a rank-1 tensor needs L >= 1 non-empty factors".into(),
            ));
        }
        for (l, f) in factors.iter().enumerate() {
            if let Some(i) = f.iter().position(|v| !v.is_finite()) {
                return Err(Error::InvalidArgument(format!(
                    "factor {} of the rank-1 tensor has a non-finite entry {} at index {i}",
                    l + 1,
                    f[i]
                )));
            }
        }
        Ok(Self { factors })
    }

    /// Λ̃ = ⊗_ℓ \[λ_ℓ; 1\] (Eq. 12–13).
    ///
    /// # Shapes
    /// `gates`: widths (d_1, …, d_L); factors of lengths d_ℓ + 1.
    pub fn from_gates(gates: &Gates) -> Self {
        Self {
            factors: gates.layers().iter().map(|g| augment(g.view())).collect(),
        }
    }

    /// The factors a_ℓ.
    pub fn factors(&self) -> &[Array1<f64>] {
        &self.factors
    }

    /// (d_1+1, …, d_L+1).
    pub fn shape(&self) -> Vec<usize> {
        self.factors.iter().map(|f| f.len()).collect()
    }

    /// τ_p = Π_ℓ a_ℓ\[p_ℓ\].
    ///
    /// # Shapes
    /// `path`: L indices, p_ℓ < n_ℓ (the factor lengths).
    ///
    /// # Panics
    /// If `path` does not have one index per factor (a short path would otherwise silently
    /// drop factors), or an index is out of range.
    #[track_caller]
    pub fn entry(&self, path: &[usize]) -> f64 {
        assert_eq!(
            path.len(),
            self.factors.len(),
            "path {path:?} needs one index per factor"
        );
        path.iter().zip(&self.factors).map(|(&p, f)| f[p]).product()
    }

    /// The materialised tensor (tiny networks only), row-major over paths.
    pub fn to_dense(&self) -> ArrayD<f64> {
        let shape = self.shape();
        let data: Vec<f64> = MultiIndex::new(shape.clone())
            .map(|p| self.entry(&p))
            .collect();
        ArrayD::from_shape_vec(IxDyn(&shape), data).expect("size matches shape")
    }
}

/// Σ_r ⊗_ℓ a_{r,ℓ}: a tensor of rank at most R.
#[derive(Clone, Debug, PartialEq)]
pub struct LowRankTensor {
    terms: Vec<RankOneTensor>,
}

impl LowRankTensor {
    /// Σ of the given rank-1 terms (all of the same shape, at least one).
    ///
    /// # Shapes
    /// Every term of shape (n_1, …, n_L).
    pub fn new(terms: Vec<RankOneTensor>) -> Result<Self> {
        let first = terms.first().ok_or_else(|| {
            Error::InvalidArgument("a low-rank tensor needs at least one term".into())
        })?;
        let shape = first.shape();
        for t in &terms {
            check_shape("rank-1 term of a low-rank tensor", &shape, &t.shape())?;
        }
        Ok(Self { terms })
    }

    /// The rank-1 terms.
    pub fn terms(&self) -> &[RankOneTensor] {
        &self.terms
    }

    /// The restriction to the paths through real neurons only (Π_ℓ d_ℓ entries): every factor
    /// without its last (constant-neuron) entry. Entry p of the result is entry p of `self`
    /// for every path p through real neurons only.
    ///
    /// # Shapes
    /// From (d_1+1, …, d_L+1) to (d_1, …, d_L).
    ///
    /// # Errors
    /// A factor of length 1 (no real neuron left).
    pub fn real_paths(&self) -> Result<LowRankTensor> {
        let terms = self
            .terms
            .iter()
            .map(|t| {
                RankOneTensor::new(
                    t.factors()
                        .iter()
                        .map(|f| head(f.view(), f.len() - 1).to_owned())
                        .collect(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        LowRankTensor::new(terms)
    }

    /// Number of terms R.
    pub fn rank(&self) -> usize {
        self.terms.len()
    }

    /// (d_1+1, …, d_L+1).
    pub fn shape(&self) -> Vec<usize> {
        self.terms[0].shape()
    }

    /// τ_p = Σ_r Π_ℓ a_{r,ℓ}\[p_ℓ\].
    ///
    /// # Shapes
    /// `path`: one index per factor, p_ℓ < n_ℓ.
    ///
    /// # Panics
    /// As [`RankOneTensor::entry`].
    #[track_caller]
    pub fn entry(&self, path: &[usize]) -> f64 {
        self.terms.iter().map(|t| t.entry(path)).sum()
    }

    /// The materialised tensor (tiny networks only).
    pub fn to_dense(&self) -> ArrayD<f64> {
        let mut acc = self.terms[0].to_dense();
        for t in &self.terms[1..] {
            acc += &t.to_dense();
        }
        acc
    }
}

impl From<RankOneTensor> for LowRankTensor {
    fn from(t: RankOneTensor) -> Self {
        Self { terms: vec![t] }
    }
}

fn check_tensor_shape(mlp: &Mlp, shape: &[usize]) -> Result<()> {
    let expected: Vec<usize> = mlp.widths().iter().map(|d| d + 1).collect();
    check_shape("path tensor (d_1+1, …, d_L+1)", &expected, shape)
}

/// v_τ for τ = Σ_{r=1}^{R} ⊗_ℓ a_{r,ℓ} (Eq. 14) by R backward passes
/// (vᵀ = Σ_r ỹᵀ diag(a_{r,L}) W̃_L ⋯ diag(a_{r,1}) W̃_1), run as one batched chain.
///
/// # Shapes
/// Returns d_0 + 1.
pub fn low_rank_pullback(mlp: &Mlp, class: usize, tau: &LowRankTensor) -> Result<Array1<f64>> {
    check_tensor_shape(mlp, &tau.shape())?;
    let y = mlp.augmented_class_head(class)?;
    let r = tau.rank();
    let widths = mlp.widths();
    let mut real: Vec<Array2<f64>> = widths.iter().map(|&d| Array2::zeros((r, d))).collect();
    let mut constant: Vec<Array1<f64>> = widths.iter().map(|_| Array1::zeros(r)).collect();
    for (k, term) in tau.terms().iter().enumerate() {
        for (l, f) in term.factors().iter().enumerate() {
            let d = widths[l];
            real[l].row_mut(k).assign(&head(f.view(), d));
            constant[l][k] = f[d];
        }
    }
    let views: Vec<ArrayView2<f64>> = real.iter().map(|m| m.view()).collect();
    let cov = y.view().insert_axis(Axis(0));
    let cov = cov.broadcast((r, y.len())).expect("broadcast");
    let rows = backward_rows(mlp, cov, &views, Some(&constant));
    Ok(rows.sum_axis(Axis(0)))
}

/// v_τ for a dense τ by the explicit path sum Σ_p τ_p a_p (Eq. 14); tiny networks only.
///
/// # Shapes
/// `tau`: (d_1+1, …, d_L+1); returns d_0 + 1.
pub fn dense_pullback(
    mlp: &Mlp,
    class: usize,
    tau: &ArrayD<f64>,
    limit: u128,
) -> Result<Array1<f64>> {
    check_tensor_shape(mlp, tau.shape())?;
    path_sum(mlp, class, |p| tau[IxDyn(p)], limit)
}

/// f_τ(x) = ⟨v_τ, x̃⟩ (Eq. 15) for a given pullback v_τ(x).
///
/// # Shapes
/// `v`: d_0 + 1, `x`: d_0.
pub fn induced_value(v: ArrayView1<f64>, x: ArrayView1<f64>) -> Result<f64> {
    check_shape("pullback (d_0 + 1)", &[x.len() + 1], v.shape())?;
    Ok(v.dot(&augment(x)))
}

/// A tensor field τ: R^{d_0} → R^{𝒫̃₁} given as low-rank tensors.
pub trait TensorField {
    /// τ(x).
    ///
    /// # Shapes
    /// `x`: d_0; returns a tensor of shape (d_1+1, …, d_L+1).
    fn tensor(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<LowRankTensor>;
}

/// The rank-1 tensor field Λ̃ of a gating (Eq. 12).
#[derive(Clone, Debug)]
pub struct GateTensorField<G>(pub G);

impl<G: Gating> TensorField for GateTensorField<G> {
    fn tensor(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<LowRankTensor> {
        Ok(RankOneTensor::from_gates(&self.0.gates(mlp, x)?).into())
    }
}

/// v_τ(x) for a tensor field (R backward passes for rank R).
///
/// # Shapes
/// `x`: d_0; returns d_0 + 1.
pub fn field_pullback(
    mlp: &Mlp,
    class: usize,
    field: &impl TensorField,
    x: ArrayView1<f64>,
) -> Result<Array1<f64>> {
    let tau = field.tensor(mlp, x)?;
    low_rank_pullback(mlp, class, &tau)
}

/// f_τ(x) = ⟨v_τ(x), x̃⟩ for a tensor field (Eq. 15).
///
/// # Shapes
/// `x`: d_0.
pub fn field_value(
    mlp: &Mlp,
    class: usize,
    field: &impl TensorField,
    x: ArrayView1<f64>,
) -> Result<f64> {
    let v = field_pullback(mlp, class, field, x)?;
    induced_value(v.view(), x)
}

/// Any closure x ↦ τ(x) (low-rank) is a tensor field.
impl<F> TensorField for F
where
    F: Fn(&Mlp, ArrayView1<f64>) -> Result<LowRankTensor>,
{
    fn tensor(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<LowRankTensor> {
        self(mlp, x)
    }
}

/// f_τ(x) = ⟨v_τ(x), x̃⟩ for a dense tensor field (tiny networks only: explicit path sum).
///
/// # Shapes
/// `x`: d_0; `tau(x)`: (d_1+1, …, d_L+1).
pub fn dense_field_value(
    mlp: &Mlp,
    class: usize,
    tau: impl Fn(ArrayView1<f64>) -> Result<ArrayD<f64>>,
    x: ArrayView1<f64>,
    limit: u128,
) -> Result<f64> {
    mlp.check_input(&x)?;
    let v = dense_pullback(mlp, class, &tau(x)?, limit)?;
    induced_value(v.view(), x)
}
