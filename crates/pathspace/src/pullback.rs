//! Λ-pullbacks: v_Λ(x)ᵀ = ỹᵀ M⃗_Λ(x)  (Eq. 6), neuron pullbacks v_Λ|(ℓ,i) (Sec. 3.1),
//! and the gradient identity ∇f(x) = v_G(x)|_{R^{d_0*}}  (Eq. 8).
//!
//! Everything is one backward pass of the gated linear chain
//!
//! ```text
//! vᵀ = ỹᵀ Λ̃_L W̃_L Λ̃_{L-1} W̃_{L-1} ⋯ Λ̃_1 W̃_1,   Λ̃_ℓ = diag(λ_ℓ, 1),
//! ```
//!
//! so v_Λ ∈ R^{d_0+1}. Its first d_0 coordinates are the true-input part; its last
//! coordinate collects every bias contribution (b_ℓ read through the constant neuron and
//! the head bias), so that f_Λ(x) = ⟨v_Λ(x), x̃⟩ holds exactly (Eq. 7).
//!
//! For a batch the chain is evaluated for all rows at once with matrix products:
//! U_L = (1 ỹ_cᵀ) ⊙ Λ_L, U_{ℓ-1} = (U_ℓ W_ℓ) ⊙ Λ_{ℓ-1}, V = U_1 W_1, while the constant
//! coordinate accumulates c += U_ℓ b_ℓ.

#![allow(non_snake_case)]

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{check_shape, Error, Result};
use crate::gating::{Gates, Gating, HardGating};
use crate::mlp::{block, block_mut, head, head_mut, rows, Mlp};
use crate::parallel::map_row_chunks;

/// Backward pass of the chain for K rows at once, each row with its own covector and
/// its own per-layer factors: row k returns c̃_kᵀ F̃_L^k W̃_L ⋯ F̃_1^k W̃_1 with
/// F̃_ℓ^k = diag(factors\[ℓ-1\]\[k, ..\], const_factors\[ℓ-1\]\[k\]) (constant factor 1 when
/// `const_factors` is `None`: the constant neuron of a gating is never gated).
///
/// # Shapes
/// `covectors`: K × (d_L+1); `factors[ℓ-1]`: K × d_ℓ (broadcast views allowed);
/// `const_factors[ℓ-1]`: K; returns K × (d_0+1).
pub(crate) fn backward_rows(
    mlp: &Mlp,
    covectors: ArrayView2<f64>,
    factors: &[ArrayView2<f64>],
    const_factors: Option<&[Array1<f64>]>,
) -> Array2<f64> {
    let L = mlp.depth();
    let dL = mlp.widths()[L - 1];
    debug_assert_eq!(factors.len(), L);
    let mut u: Array2<f64> = &block(covectors, 0..covectors.nrows(), 0..dL) * &factors[L - 1];
    let mut c: Array1<f64> = covectors.column(dL).to_owned();
    if let Some(cf) = const_factors {
        c *= &cf[L - 1];
    }
    for l in (1..=L).rev() {
        let W = mlp.weight(l);
        let b = mlp.bias(l);
        let mut next_c = u.dot(b);
        next_c += &c;
        let mut next_u = u.dot(W);
        if l > 1 {
            next_u *= &factors[l - 2];
            if let Some(cf) = const_factors {
                next_c *= &cf[l - 2];
            }
        }
        u = next_u;
        c = next_c;
    }
    let (k, d0) = u.dim();
    let mut out = Array2::zeros((k, d0 + 1));
    block_mut(&mut out, 0..k, 0..d0).assign(&u);
    out.column_mut(d0).assign(&c);
    out
}

pub(crate) fn gate_views(gates: &Gates, n: usize) -> Vec<ArrayView2<'_, f64>> {
    gates
        .layers()
        .iter()
        .map(|g| g.broadcast((n, g.len())).expect("broadcast"))
        .collect()
}

/// The pullback of an arbitrary covector c̃ ∈ R^{d_L+1} through M⃗_Λ: c̃ᵀ M⃗_Λ.
///
/// # Shapes
/// `covector`: d_L + 1; returns d_0 + 1.
pub fn covector_pullback(
    mlp: &Mlp,
    gates: &Gates,
    covector: ArrayView1<f64>,
) -> Result<Array1<f64>> {
    gates.check_widths(mlp)?;
    check_shape(
        "covector (d_L + 1)",
        &[mlp.widths()[mlp.depth() - 1] + 1],
        covector.shape(),
    )?;
    let out = backward_rows(
        mlp,
        covector.insert_axis(Axis(0)),
        &gate_views(gates, 1),
        None,
    );
    Ok(out.row(0).to_owned())
}

/// v_Λ for class c, given the gate values Λ(x) (Eq. 6).
///
/// # Shapes
/// Returns d_0 + 1 (last coordinate: bias part, read against x̃'s constant 1).
pub fn pullback_from_gates(mlp: &Mlp, gates: &Gates, class: usize) -> Result<Array1<f64>> {
    let y = mlp.augmented_class_head(class)?;
    covector_pullback(mlp, gates, y.view())
}

/// The Λ-pullback v_Λ(x) for class c (Eq. 6).
///
/// # Shapes
/// `x`: d_0; returns d_0 + 1.
pub fn pullback(
    mlp: &Mlp,
    gating: &impl Gating,
    class: usize,
    x: ArrayView1<f64>,
) -> Result<Array1<f64>> {
    mlp.check_class(class)?;
    let gates = gating.gates(mlp, x)?;
    pullback_from_gates(mlp, &gates, class)
}

/// ∇f_c(x) = v_G(x) restricted to the true input coordinates (Eq. 8).
///
/// # Shapes
/// `x`: d_0; returns d_0.
pub fn input_gradient(mlp: &Mlp, class: usize, x: ArrayView1<f64>) -> Result<Array1<f64>> {
    let v = pullback(mlp, &HardGating, class, x)?;
    Ok(head(v.view(), mlp.input_dim()).to_owned())
}

/// Pullbacks v_Λ(x_n) for a batch, class c, as matrix products (parallel over rows).
///
/// # Shapes
/// `xs`: N × d_0; returns N × (d_0+1).
pub fn pullbacks_batch(
    mlp: &Mlp,
    gating: &(impl Gating + Sync),
    class: usize,
    xs: ArrayView2<f64>,
) -> Result<Array2<f64>> {
    let y = mlp.augmented_class_head(class)?;
    mlp.check_batch(&xs)?;
    map_row_chunks(xs.nrows(), 32, |range| {
        let n = range.len();
        let chunk = rows(xs, range);
        let gates = gating.gates_batch(mlp, chunk)?;
        let views: Vec<ArrayView2<f64>> = gates.iter().map(|g| g.view()).collect();
        let cov = y.view().insert_axis(Axis(0));
        let cov = cov.broadcast((n, y.len())).expect("broadcast");
        Ok(backward_rows(mlp, cov, &views, None))
    })
}

fn check_layer(mlp: &Mlp, layer: usize) -> Result<()> {
    if (1..=mlp.depth()).contains(&layer) {
        Ok(())
    } else {
        Err(Error::IndexOutOfRange(format!(
            "layer {layer} is not in 1..={}",
            mlp.depth()
        )))
    }
}

/// The pullback v_Λ|(ℓ,i) of neuron i of layer ℓ (Sec. 3.1): the pullback of its
/// pre-activation z_ℓ\[i\] through the gated subnetwork below it,
/// v|(ℓ,i)ᵀ = e_iᵀ W̃_ℓ Λ̃_{ℓ-1} W̃_{ℓ-1} ⋯ Λ̃_1 W̃_1.
///
/// `neuron = d_ℓ` is the constant neuron, whose pullback is e_{d_0} (it reads the 1 of x̃).
/// For ℓ = 1, v|(1,i) = W̃_1\[i\]ᵀ = [W_1\[i\]; b_1\[i\]] for any Λ.
///
/// # Shapes
/// Returns d_0 + 1.
pub fn neuron_pullback(
    mlp: &Mlp,
    gates: &Gates,
    layer: usize,
    neuron: usize,
) -> Result<Array1<f64>> {
    gates.check_widths(mlp)?;
    check_layer(mlp, layer)?;
    let d = mlp.widths()[layer - 1];
    if neuron > d {
        return Err(Error::IndexOutOfRange(format!(
            "neuron {neuron} of layer {layer}: valid indices are 0..={d} ({d} = constant neuron)"
        )));
    }
    let d0 = mlp.input_dim();
    if neuron == d {
        let mut e = Array1::zeros(d0 + 1);
        e[d0] = 1.0;
        return Ok(e);
    }
    let mut u = mlp.weight(layer).row(neuron).to_owned();
    let mut c = mlp.bias(layer)[neuron];
    for l in (1..layer).rev() {
        u *= gates.layer(l);
        c += u.dot(mlp.bias(l));
        u = u.dot(mlp.weight(l));
    }
    let mut out = Array1::zeros(d0 + 1);
    head_mut(&mut out, d0).assign(&u);
    out[d0] = c;
    Ok(out)
}

/// The weights a_(ℓ,i) with v_Λ = Σ_{i=0}^{d_ℓ} a_(ℓ,i) v_Λ|(ℓ,i) (index d_ℓ = constant neuron):
/// aᵀ = ỹ_cᵀ Λ̃_L W̃_L ⋯ W̃_{ℓ+1} Λ̃_ℓ. For ℓ = L, a_(L,i) = y\[i\] λ_L\[i\] and a_(L,d_L) = b^y_c.
///
/// # Shapes
/// Returns d_ℓ + 1.
pub fn neuron_coefficients(
    mlp: &Mlp,
    gates: &Gates,
    class: usize,
    layer: usize,
) -> Result<Array1<f64>> {
    gates.check_widths(mlp)?;
    check_layer(mlp, layer)?;
    let y = mlp.augmented_class_head(class)?;
    let L = mlp.depth();
    let dL = mlp.widths()[L - 1];
    let mut u = &head(y.view(), dL) * gates.layer(L);
    let mut c = y[dL];
    for l in ((layer + 1)..=L).rev() {
        c += u.dot(mlp.bias(l));
        u = u.dot(mlp.weight(l)) * gates.layer(l - 1);
    }
    let mut out = Array1::zeros(u.len() + 1);
    head_mut(&mut out, u.len()).assign(&u);
    out[u.len()] = c;
    Ok(out)
}
