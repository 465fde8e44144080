//! The inherent gradient noise (Sec. 4.1, Eq. 20).
//!
//! If x lies on the boundary of two linear regions and x_a, x_b are nearby points on
//! opposite sides, continuity of f gives ⟨v_G(x_a), x̃⟩ = ⟨v_G(x_b), x̃⟩, i.e.
//! ⟨v_G(x_a) − v_G(x_b), x̃⟩ → 0 (Eq. 20), while v_G(x_a) − v_G(x_b) itself need not vanish:
//! when a single neuron (ℓ, i) flips, the jump is exactly a_(ℓ,i) · v_G|(ℓ,i) (its weight in
//! the layer decomposition times its pullback), a vector orthogonal to x̃ at the boundary.
//!
//! This module finds such boundary points by bisection along a segment and measures the jump.

use ndarray::{Array1, ArrayView1};

use crate::error::{check_shape, Result};
use crate::gating::{Gates, Gating, HardGating};
use crate::mlp::{augment, Mlp};
use crate::pullback::pullback_from_gates;

/// A point where the hard gating pattern changes along a segment.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundaryCrossing {
    /// Segment parameter of the last point with the starting pattern.
    pub t_before: f64,
    /// Segment parameter of the first point with a different pattern (t_after − t_before
    /// is at the resolution of f64).
    pub t_after: f64,
    /// x(t_before) = from + t_before (to − from): a point on the boundary up to rounding.
    pub point: Array1<f64>,
    /// The neurons (ℓ, i) whose gate flips there (ℓ is the paper's 1-based layer).
    pub flipped: Vec<(usize, usize)>,
}

fn point_at(from: &ArrayView1<f64>, to: &ArrayView1<f64>, t: f64) -> Array1<f64> {
    from.to_owned() + &((to - from) * t)
}

/// The first change of the gating pattern found by bisection on the segment from `from` to
/// `to`; `None` when both ends have the same pattern.
///
/// # Shapes
/// `from`, `to`: d_0.
pub fn find_boundary(
    mlp: &Mlp,
    from: ArrayView1<f64>,
    to: ArrayView1<f64>,
) -> Result<Option<BoundaryCrossing>> {
    check_shape("segment end", &[mlp.input_dim()], to.shape())?;
    let g0 = HardGating.gates(mlp, from)?;
    let g1 = HardGating.gates(mlp, to)?;
    if g0 == g1 {
        return Ok(None);
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if HardGating.gates(mlp, point_at(&from, &to, mid).view())? == g0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let a = HardGating.gates(mlp, point_at(&from, &to, lo).view())?;
    let b = HardGating.gates(mlp, point_at(&from, &to, hi).view())?;
    Ok(Some(BoundaryCrossing {
        t_before: lo,
        t_after: hi,
        point: point_at(&from, &to, lo),
        flipped: flipped_neurons(&a, &b),
    }))
}

/// The neurons (ℓ, i) where two gate values differ.
///
/// # Shapes
/// `a`, `b`: gates of equal widths.
pub fn flipped_neurons(a: &Gates, b: &Gates) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (l, (ga, gb)) in a.layers().iter().zip(b.layers()).enumerate() {
        for (i, (p, q)) in ga.iter().zip(gb.iter()).enumerate() {
            if p != q {
                out.push((l + 1, i));
            }
        }
    }
    out
}

/// The pullback jump across a boundary at one distance ε.
#[derive(Clone, Debug, PartialEq)]
pub struct PullbackJump {
    /// ε: x_a = x − ε u, x_b = x + ε u.
    pub epsilon: f64,
    /// v_G(x_a) − v_G(x_b) ∈ R^{d_0+1}.
    pub difference: Array1<f64>,
    /// ⟨v_G(x_a) − v_G(x_b), x̃⟩ (Eq. 20).
    pub inner_with_x: f64,
    /// f(x_a) − f(x_b).
    pub value_gap: f64,
}

/// Pullbacks on both sides of x at distance ε along the unit direction of `direction`.
///
/// # Shapes
/// `x`, `direction`: d_0.
pub fn pullback_jump(
    mlp: &Mlp,
    class: usize,
    x: ArrayView1<f64>,
    direction: ArrayView1<f64>,
    epsilon: f64,
) -> Result<PullbackJump> {
    check_shape("direction", &[mlp.input_dim()], direction.shape())?;
    let norm = direction.dot(&direction).sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return Err(crate::error::Error::InvalidArgument(format!(
            "direction must be a non-zero finite vector (its norm is {norm})"
        )));
    }
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(crate::error::Error::InvalidArgument(format!(
            "epsilon {epsilon} must be finite and > 0"
        )));
    }
    let u = direction.mapv(|v| v / norm);
    let xa = x.to_owned() - &(&u * epsilon);
    let xb = x.to_owned() + &(&u * epsilon);
    let va = pullback_from_gates(mlp, &HardGating.gates(mlp, xa.view())?, class)?;
    let vb = pullback_from_gates(mlp, &HardGating.gates(mlp, xb.view())?, class)?;
    let fa = mlp.logits(xa.view())?[class];
    let fb = mlp.logits(xb.view())?[class];
    let difference = &va - &vb;
    Ok(PullbackJump {
        epsilon,
        inner_with_x: difference.dot(&augment(x)),
        difference,
        value_gap: fa - fb,
    })
}
