//! Λ-induced networks (Sec. 2.3):
//!
//! - M_Λ(x) = Λ_L(x) W_L ⋯ Λ_1(x) W_1 x  (Eq. 4), computed as a gated forward pass
//!   x_ℓ = λ_ℓ ⊙ (W_ℓ x_{ℓ-1} + b_ℓ);
//! - the matrix field M⃗_Λ(x) = Λ̃_L W̃_L ⋯ Λ̃_1 W̃_1 ∈ R^{(d_L+1)×(d_0+1)}  (Eq. 5), with
//!   M_Λ(x) = M⃗_Λ(x) x̃ (the last row of M⃗_Λ is e_{d_0}ᵀ: the constant neuron);
//! - f_Λ = ỹᵀ M_Λ, so f = f_G and M = M_G.
//!
//! These are computed *forward* (matrix products from layer 1 upwards) and are therefore
//! an independent check of the backward-pass pullbacks of [`crate::pullback`].

#![allow(non_snake_case)]

use ndarray::{Array1, Array2, ArrayView1, Axis};

use crate::error::Result;
use crate::gating::{Gates, Gating};
use crate::mlp::{augment, Mlp};

/// The matrix field M⃗_Λ at gate values Λ(x) (Eq. 5), in augmented form.
///
/// # Shapes
/// Returns (d_L+1) × (d_0+1).
pub fn matrix_field(mlp: &Mlp, gates: &Gates) -> Result<Array2<f64>> {
    gates.check_widths(mlp)?;
    let mut M: Array2<f64> = Array2::eye(mlp.input_dim() + 1);
    for l in 1..=mlp.depth() {
        let mut step = mlp.augmented_weight(l).dot(&M);
        // Λ̃_ℓ = diag(λ_ℓ, 1): scale the real rows, keep the constant row.
        let lambda = gates.augmented_layer(l);
        step *= &lambda.view().insert_axis(Axis(1));
        M = step;
    }
    Ok(M)
}

/// M_Λ(x) (Eq. 4) for given gate values, by the gated forward pass.
///
/// # Shapes
/// `x`: d_0; returns d_L.
pub fn induced_output_with_gates(
    mlp: &Mlp,
    gates: &Gates,
    x: ArrayView1<f64>,
) -> Result<Array1<f64>> {
    gates.check_widths(mlp)?;
    mlp.check_input(&x)?;
    let mut a = x.to_owned();
    for l in 1..=mlp.depth() {
        a = (mlp.weight(l).dot(&a) + mlp.bias(l)) * gates.layer(l);
    }
    Ok(a)
}

/// M_Λ(x) (Eq. 4) with Λ evaluated at the same x.
///
/// # Shapes
/// `x`: d_0; returns d_L.
pub fn induced_output(mlp: &Mlp, gating: &impl Gating, x: ArrayView1<f64>) -> Result<Array1<f64>> {
    let gates = gating.gates(mlp, x)?;
    induced_output_with_gates(mlp, &gates, x)
}

/// f_Λ(x) = ỹ_cᵀ M̃_Λ(x) for every class c.
///
/// # Shapes
/// `x`: d_0; returns C.
pub fn induced_logits(mlp: &Mlp, gating: &impl Gating, x: ArrayView1<f64>) -> Result<Array1<f64>> {
    let out = induced_output(mlp, gating, x)?;
    Ok(mlp.augmented_head().dot(&augment(out.view())))
}

/// f_Λ(x) for one class c.
///
/// # Shapes
/// `x`: d_0.
pub fn induced_function(
    mlp: &Mlp,
    gating: &impl Gating,
    class: usize,
    x: ArrayView1<f64>,
) -> Result<f64> {
    mlp.check_class(class)?;
    Ok(induced_logits(mlp, gating, x)?[class])
}
