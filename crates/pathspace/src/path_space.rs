//! The path space R^{𝒫₀} and the linear nature of ReLU networks (Sec. 3.3, Eq. 16–19).
//!
//! A path p = (p_0, p_1, …, p_L) ∈ 𝒫̃₀ runs from an input coordinate p_0 ∈ 0..=d_0 (index d_0
//! is the constant 1 of x̃) through one neuron per layer. Then
//!
//! - ω_p = ỹ\[p_L\] Π_{ℓ=1}^{L} W̃_ℓ\[p_ℓ, p_{ℓ-1}\]  (Eq. 16): parameters only;
//! - φ_τ(x)_p = τ_{p|1} · x̃\[p_0\] ≅ τ ⊗ x̃  (Eq. 17): no parameters;
//! - f_τ(x) = ⟨φ_τ(x), ω⟩ = ⟨v_τ(x), x̃⟩  (Eq. 18–19).
//!
//! Arrays over 𝒫̃₀ have axes (p_0, p_1, …, p_L), shape (d_0+1, d_1+1, …, d_L+1).

#![allow(non_snake_case)]

use ndarray::{ArrayD, ArrayView1, IxDyn};

use crate::atoms::MultiIndex;
use crate::error::{check_shape, Error, Result};
use crate::mlp::{augment, Mlp};

/// |𝒫₀| compared with the number of parameters (the remark after Eq. 18).
#[derive(Clone, Debug, PartialEq)]
pub struct PathSpaceSize {
    /// Π_{ℓ=0}^{L} d_ℓ: the paper's count of paths (real neurons only), saturating.
    pub paths: u128,
    /// Π_{ℓ=0}^{L} (d_ℓ + 1): paths of the augmented network (bias paths included).
    pub augmented_paths: u128,
    /// log10 Π_{ℓ=0}^{L} d_ℓ (exact even when `paths` saturates).
    pub log10_paths: f64,
    /// Number of parameters: weights, biases and head (with head bias).
    pub parameters: usize,
}

impl PathSpaceSize {
    /// |𝒫₀| / parameters (≫ 1 for deep networks: under-parameterised in path space).
    pub fn paths_per_parameter(&self) -> f64 {
        10f64.powf(self.log10_paths) / self.parameters as f64
    }
}

/// The size of the path space of `mlp`.
pub fn path_space_size(mlp: &Mlp) -> PathSpaceSize {
    let dims = mlp.dims();
    PathSpaceSize {
        paths: dims.iter().fold(1u128, |a, &d| a.saturating_mul(d as u128)),
        augmented_paths: dims
            .iter()
            .fold(1u128, |a, &d| a.saturating_mul(d as u128 + 1)),
        log10_paths: dims.iter().map(|&d| (d as f64).log10()).sum(),
        parameters: mlp.parameter_count(),
    }
}

fn path_space_shape(mlp: &Mlp) -> Vec<usize> {
    mlp.dims().iter().map(|d| d + 1).collect()
}

fn check_limit(shape: &[usize], limit: u128) -> Result<()> {
    let count = shape
        .iter()
        .fold(1u128, |a, &d| a.saturating_mul(d as u128));
    if count > limit {
        Err(Error::TooManyPaths { count, limit })
    } else {
        Ok(())
    }
}

/// ω = Ω(ỹ_c, θ) ∈ R^{𝒫̃₀} (Eq. 16), materialised entry by entry.
///
/// # Shapes
/// Returns (d_0+1, d_1+1, …, d_L+1).
pub fn omega(mlp: &Mlp, class: usize, limit: u128) -> Result<ArrayD<f64>> {
    let y = mlp.augmented_class_head(class)?;
    let shape = path_space_shape(mlp);
    check_limit(&shape, limit)?;
    let W: Vec<_> = (1..=mlp.depth()).map(|l| mlp.augmented_weight(l)).collect();
    let data: Vec<f64> = MultiIndex::new(shape.clone())
        .map(|p| {
            let mut w = y[p[p.len() - 1]];
            for l in 1..p.len() {
                w *= W[l - 1][[p[l], p[l - 1]]];
            }
            w
        })
        .collect();
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), data).expect("size matches shape"))
}

/// φ_τ(x) = τ ⊗ x̃ (Eq. 17) with axes (p_0, p_1, …, p_L).
///
/// # Shapes
/// `tau`: (d_1+1, …, d_L+1), `x`: d_0; returns (d_0+1, d_1+1, …, d_L+1).
pub fn feature_map(tau: &ArrayD<f64>, x: ArrayView1<f64>) -> ArrayD<f64> {
    let xt = augment(x);
    let mut shape = vec![xt.len()];
    shape.extend_from_slice(tau.shape());
    let mut data = Vec::with_capacity(xt.len() * tau.len());
    for &xi in &xt {
        data.extend(tau.iter().map(|&t| xi * t));
    }
    ArrayD::from_shape_vec(IxDyn(&shape), data).expect("size matches shape")
}

/// ⟨φ, ω⟩ in R^{𝒫̃₀} (Eq. 18).
///
/// # Shapes
/// `phi`, `omega`: equal shapes.
pub fn path_space_inner(phi: &ArrayD<f64>, omega: &ArrayD<f64>) -> Result<f64> {
    check_shape("path-space arrays", omega.shape(), phi.shape())?;
    Ok(phi.iter().zip(omega.iter()).map(|(a, b)| a * b).sum())
}
