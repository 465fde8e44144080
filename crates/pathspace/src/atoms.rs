//! Paths 𝒫₁, path activity Λ^p (Eq. 10), atoms and the explicit path sum (Eq. 9–11).
//!
//! With the augmented convention a path p = (p_1, …, p_L) picks p_ℓ ∈ {0, …, d_ℓ} in each
//! layer, index d_ℓ being the constant neuron (gate 1, never gated). The atom of p is
//!
//! ```text
//! a_p = ( ỹ[p_L] Π_{ℓ=2}^{L} W̃_ℓ[p_ℓ, p_{ℓ-1}] ) · W̃_1[p_1]ᵀ ∈ R^{d_0+1}
//! ```
//!
//! and v_Λ(x) = Σ_{p ∈ 𝒫̃₁} Λ^p(x) a_p (Eq. 11) holds exactly, biases included. Because
//! W̃_ℓ\[d_ℓ, j\] = 0 for real j, the only paths through a constant neuron with non-zero
//! atoms are those that stay constant from layer 1 up to some layer k-1 and then enter
//! the real neurons through the bias b_k (or stay constant to the head bias).
//!
//! Everything here indexes single matrix entries: it is the slow, obviously-correct
//! reference for the backward-pass code, meant for tiny networks only.

#![allow(non_snake_case)]

use ndarray::{Array1, Array2};

use crate::error::{Error, Result};
use crate::gating::Gates;
use crate::mlp::Mlp;

/// Default cap on the number of explicitly enumerated paths.
pub const DEFAULT_PATH_LIMIT: u128 = 2_000_000;

/// Π_ℓ (d_ℓ + 1) = |𝒫̃₁|, the number of augmented paths through layers 1..L (saturating).
pub fn augmented_path_count(mlp: &Mlp) -> u128 {
    mlp.widths()
        .iter()
        .fold(1u128, |acc, &d| acc.saturating_mul(d as u128 + 1))
}

/// Π_ℓ d_ℓ = |𝒫₁| of the paper (real neurons only, saturating).
pub fn hidden_path_count(mlp: &Mlp) -> u128 {
    mlp.widths()
        .iter()
        .fold(1u128, |acc, &d| acc.saturating_mul(d as u128))
}

/// Iterator over multi-indices of a box, last index fastest (row-major order).
#[derive(Clone, Debug)]
pub struct MultiIndex {
    dims: Vec<usize>,
    next: Option<Vec<usize>>,
}

impl MultiIndex {
    /// All indices of the box `dims` (empty if any dimension is 0).
    pub fn new(dims: Vec<usize>) -> Self {
        let next = if dims.iter().all(|&d| d > 0) {
            Some(vec![0; dims.len()])
        } else {
            None
        };
        Self { dims, next }
    }
}

impl Iterator for MultiIndex {
    type Item = Vec<usize>;
    fn next(&mut self) -> Option<Vec<usize>> {
        let current = self.next.take()?;
        let mut succ = current.clone();
        let mut k = succ.len();
        loop {
            if k == 0 {
                break;
            }
            k -= 1;
            succ[k] += 1;
            if succ[k] < self.dims[k] {
                self.next = Some(succ);
                break;
            }
            succ[k] = 0;
        }
        Some(current)
    }
}

/// The augmented paths 𝒫̃₁ in row-major order (p_1 slowest, p_L fastest), refusing more
/// than `limit` paths.
pub fn paths(mlp: &Mlp, limit: u128) -> Result<MultiIndex> {
    let count = augmented_path_count(mlp);
    if count > limit {
        return Err(Error::TooManyPaths { count, limit });
    }
    Ok(MultiIndex::new(
        mlp.widths().iter().map(|d| d + 1).collect(),
    ))
}

/// Λ^p(x) = Π_ℓ λ̃_ℓ(x)\[p_ℓ\] (Eq. 10), with the constant neuron's gate equal to 1.
///
/// # Shapes
/// `path`: L indices, p_ℓ ∈ 0..=d_ℓ.
///
/// # Panics
/// If `path` does not have L indices (a short path would otherwise silently drop
/// layers), or an index exceeds d_ℓ.
#[track_caller]
pub fn path_activity(gates: &Gates, path: &[usize]) -> f64 {
    assert_eq!(
        path.len(),
        gates.depth(),
        "path {path:?} needs one index per layer (L = {})",
        gates.depth()
    );
    path.iter()
        .zip(gates.layers())
        .map(|(&p, g)| if p == g.len() { 1.0 } else { g[p] })
        .product()
}

/// The augmented matrices W̃_1, …, W̃_L and heads ỹ, built once for path sums.
#[derive(Clone, Debug)]
pub struct AugmentedNetwork {
    /// `weights[ℓ-1]` = W̃_ℓ.
    pub weights: Vec<Array2<f64>>,
    /// ỹ (C × (d_L+1)).
    pub head: Array2<f64>,
}

impl AugmentedNetwork {
    /// Materialises the augmented matrices of `mlp`.
    pub fn new(mlp: &Mlp) -> Self {
        Self {
            weights: (1..=mlp.depth()).map(|l| mlp.augmented_weight(l)).collect(),
            head: mlp.augmented_head(),
        }
    }

    /// ỹ\[p_L\] Π_{ℓ=2}^{L} W̃_ℓ\[p_ℓ, p_{ℓ-1}\]: the scalar weight of the atom of p.
    ///
    /// # Shapes
    /// `path`: L indices, p_ℓ ∈ 0..=d_ℓ.
    ///
    /// # Panics
    /// If `class` or an index of `path` is out of range (unchecked, for speed in path sums;
    /// the checked entry point is [`atom`]).
    pub fn path_weight(&self, class: usize, path: &[usize]) -> f64 {
        let mut w = self.head[[class, path[path.len() - 1]]];
        for l in 1..path.len() {
            w *= self.weights[l][[path[l], path[l - 1]]];
        }
        w
    }

    /// The atom a_p = path_weight(p) · W̃_1\[p_1\]ᵀ (Eq. 11).
    ///
    /// # Shapes
    /// `path`: L indices, p_ℓ ∈ 0..=d_ℓ; returns d_0 + 1.
    ///
    /// # Panics
    /// As [`AugmentedNetwork::path_weight`]; use the checked [`atom`] for user input.
    pub fn atom(&self, class: usize, path: &[usize]) -> Array1<f64> {
        self.weights[0]
            .row(path[0])
            .mapv(|v| v * self.path_weight(class, path))
    }
}

/// The atom a_p of path p for class c (Eq. 11).
///
/// # Shapes
/// `path`: L indices; returns d_0 + 1.
pub fn atom(mlp: &Mlp, class: usize, path: &[usize]) -> Result<Array1<f64>> {
    mlp.check_class(class)?;
    check_path(mlp, path)?;
    Ok(AugmentedNetwork::new(mlp).atom(class, path))
}

fn check_path(mlp: &Mlp, path: &[usize]) -> Result<()> {
    let widths = mlp.widths();
    if path.len() != widths.len() || path.iter().zip(&widths).any(|(&p, &d)| p > d) {
        return Err(Error::IndexOutOfRange(format!(
            "path {path:?} is not a path of widths {widths:?} (p_ℓ ∈ 0..=d_ℓ)"
        )));
    }
    Ok(())
}

/// Σ_{p ∈ 𝒫̃₁} weight(p) · a_p, enumerating every path explicitly (Eq. 11, Eq. 14).
///
/// # Shapes
/// Returns d_0 + 1.
pub fn path_sum(
    mlp: &Mlp,
    class: usize,
    mut weight: impl FnMut(&[usize]) -> f64,
    limit: u128,
) -> Result<Array1<f64>> {
    mlp.check_class(class)?;
    let net = AugmentedNetwork::new(mlp);
    let mut v = Array1::zeros(mlp.input_dim() + 1);
    for p in paths(mlp, limit)? {
        let w = weight(&p);
        if w != 0.0 {
            let s = w * net.path_weight(class, &p);
            v.scaled_add(s, &net.weights[0].row(p[0]));
        }
    }
    Ok(v)
}

/// v_Λ as the explicit sum over all paths of Λ^p · a_p (Eq. 11).
///
/// # Shapes
/// Returns d_0 + 1.
pub fn path_sum_pullback(
    mlp: &Mlp,
    gates: &Gates,
    class: usize,
    limit: u128,
) -> Result<Array1<f64>> {
    gates.check_widths(mlp)?;
    path_sum(mlp, class, |p| path_activity(gates, p), limit)
}
