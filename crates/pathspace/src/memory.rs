//! The network as content-addressable storage (Sec. 5.4).
//!
//! The per-class pullbacks v_(c,Λ)(x) are the "memories" read at the location Λ̃(x); the
//! memory read-out predicts argmax_c ⟨v_(c,Λ)(x), x̃⟩. With Λ = G the scores are exactly the
//! logits (Eq. 7), so the read-out is the network's own prediction; with Λ = Γ (excitation
//! pullbacks) it may differ, and the agreement rate measures by how much.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{Error, Result};
use crate::gating::{Gates, Gating};
use crate::mlp::{augment, Mlp};
use crate::pullback::{backward_rows, gate_views};

/// v_(c,Λ) for every class c at gate values Λ(x): C backward passes as one matrix chain.
///
/// # Shapes
/// Returns C × (d_0+1), row c = v_(c,Λ).
pub fn class_pullbacks_from_gates(mlp: &Mlp, gates: &Gates) -> Result<Array2<f64>> {
    gates.check_widths(mlp)?;
    let head = mlp.augmented_head();
    Ok(backward_rows(
        mlp,
        head.view(),
        &gate_views(gates, head.nrows()),
        None,
    ))
}

/// v_(c,Λ)(x) for every class c.
///
/// # Shapes
/// `x`: d_0; returns C × (d_0+1).
pub fn class_pullbacks(mlp: &Mlp, gating: &impl Gating, x: ArrayView1<f64>) -> Result<Array2<f64>> {
    class_pullbacks_from_gates(mlp, &gating.gates(mlp, x)?)
}

/// The memory read-out at one input.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryReadout {
    /// ⟨v_(c,Λ)(x), x̃⟩ for every class.
    pub scores: Array1<f64>,
    /// argmax_c of `scores` (first maximum on ties).
    pub class: usize,
}

/// First index of the maximum (NaN never wins).
///
/// # Shapes
/// `v`: n ≥ 1.
pub fn argmax(v: ArrayView1<f64>) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] || v[best].is_nan() {
            best = i;
        }
    }
    best
}

/// argmax_c ⟨v_(c,Λ)(x), x̃⟩.
///
/// # Shapes
/// `x`: d_0.
pub fn memory_readout(
    mlp: &Mlp,
    gating: &impl Gating,
    x: ArrayView1<f64>,
) -> Result<MemoryReadout> {
    let v = class_pullbacks(mlp, gating, x)?;
    let scores = v.dot(&augment(x));
    let class = argmax(scores.view());
    Ok(MemoryReadout { scores, class })
}

/// Read-out predictions against the network's own predictions on a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryAgreement {
    /// argmax_c ⟨v_(c,Λ)(x_n), x̃_n⟩ per input.
    pub readout: Vec<usize>,
    /// argmax_c f_c(x_n) per input.
    pub network: Vec<usize>,
    /// Fraction of inputs where both agree.
    pub rate: f64,
}

/// The agreement rate of the memory read-out with the network's prediction.
///
/// # Shapes
/// `xs`: N × d_0 (N ≥ 1).
pub fn memory_agreement(
    mlp: &Mlp,
    gating: &impl Gating,
    xs: ArrayView2<f64>,
) -> Result<MemoryAgreement> {
    if xs.nrows() == 0 {
        return Err(Error::Undefined(
            "agreement rate of an empty batch is undefined".into(),
        ));
    }
    let logits = mlp.logits_batch(xs)?;
    let network: Vec<usize> = logits.axis_iter(Axis(0)).map(argmax).collect();
    let readout: Vec<usize> = xs
        .outer_iter()
        .map(|x| memory_readout(mlp, gating, x).map(|r| r.class))
        .collect::<Result<_>>()?;
    let same = readout.iter().zip(&network).filter(|(a, b)| a == b).count();
    Ok(MemoryAgreement {
        rate: same as f64 / xs.nrows() as f64,
        readout,
        network,
    })
}
