//! Item 7: the noise argument (Sec. 4.1, Eq. 20).
//!
//! A point x on the boundary between two linear regions is found by bisection along a
//! random segment; x_a = x − εu and x_b = x + εu lie on either side. As ε → 0,
//! ⟨v_G(x_a) − v_G(x_b), x̃⟩ → 0 while v_G(x_a) − v_G(x_b) does not: it equals the jump
//! ±a_(ℓ,i) v_G|(ℓ,i) of the single flipped neuron, predicted independently from the
//! layer decomposition.

use pathspace::noise::{find_boundary, pullback_jump};
use pathspace::pullback::{neuron_coefficients, neuron_pullback};
use pathspace::testing::{arb_class, arb_mlp_with_inputs, max_abs, max_abs_diff};
use pathspace::{augment, Gating, HardGating, Mlp};
use proptest::prelude::*;

/// Checks the noise argument at the first boundary on the segment `from → to`; returns
/// `None` when the configuration is degenerate (no crossing, several neurons flipping at
/// once, or a zero jump because everything above the neuron is switched off).
fn check_noise_argument(
    mlp: &Mlp,
    class: usize,
    from: ndarray::ArrayView1<f64>,
    to: ndarray::ArrayView1<f64>,
) -> Option<Vec<(f64, f64, f64, f64)>> {
    let crossing = find_boundary(mlp, from, to).unwrap()?;
    if crossing.flipped.len() != 1 {
        return None;
    }
    let (layer, neuron) = crossing.flipped[0];
    let x = crossing.point.view();
    let direction = &to - &from;
    let seg_len = direction.dot(&direction).sqrt();
    // the side where the neuron is on gives the size of the jump
    let before = HardGating.gates(mlp, from.to_owned().view()).unwrap();
    let side_on = if before.layer(layer)[neuron] == 1.0 {
        -1.0
    } else {
        1.0
    };
    let x_on = &crossing.point + &(&direction * (side_on * 1e-9 / seg_len));
    let gates_on = HardGating.gates(mlp, x_on.view()).unwrap();
    let a = neuron_coefficients(mlp, &gates_on, class, layer).unwrap()[neuron];
    let v_neuron = neuron_pullback(mlp, &gates_on, layer, neuron).unwrap();
    let predicted = v_neuron.mapv(|v| v * a);
    if max_abs(predicted.view()) < 1e-6 {
        return None;
    }
    let xt = augment(x);
    let mut rows = Vec::new();
    for k in 1..=10 {
        let eps = seg_len * 10f64.powi(-k);
        let jump = pullback_jump(mlp, class, x, direction.view(), eps).unwrap();
        rows.push((
            eps,
            jump.inner_with_x,
            max_abs(jump.difference.view()),
            jump.value_gap,
        ));
        if k >= 8 {
            // adjacent regions: exactly the predicted jump (sign: x_a is on the starting side)
            let sign = if before.layer(layer)[neuron] == 1.0 {
                1.0
            } else {
                -1.0
            };
            let tol = 1e-9 * (1.0 + max_abs(predicted.view()));
            assert!(
                max_abs_diff(jump.difference.view(), predicted.mapv(|v| v * sign).view()) <= tol,
                "ε = {eps}: jump {} vs predicted {}",
                jump.difference,
                predicted
            );
            let scale = max_abs(jump.difference.view()) * xt.iter().map(|v| v.abs()).sum::<f64>();
            assert!(
                jump.inner_with_x.abs() <= 1e-10 * (1.0 + scale),
                "ε = {eps}: ⟨Δv, x̃⟩ = {}",
                jump.inner_with_x
            );
            assert!(
                max_abs(jump.difference.view()) >= 1e-6,
                "the jump itself does not vanish"
            );
            assert!(jump.value_gap.abs() <= 1e3 * eps * (1.0 + max_abs(predicted.view()) + scale));
        }
    }
    Some(rows)
}

proptest! {
    #![proptest_config(pathspace::testing::config(128, "noise"))]

    #[test]
    fn pullback_difference_is_orthogonal_to_x_at_a_boundary((mlp, xs) in arb_mlp_with_inputs(2), class in arb_class()) {
        let result = check_noise_argument(&mlp, class, xs.row(0), xs.row(1));
        prop_assume!(result.is_some());
    }
}

#[test]
fn zero_direction_and_bad_epsilon_are_errors() {
    let mlp = Mlp::random(&[3, 4, 2], 2, 1).unwrap();
    let x = ndarray::Array1::from_vec(vec![0.1, 0.2, 0.3]);
    let msg = pullback_jump(&mlp, 0, x.view(), ndarray::Array1::zeros(3).view(), 1e-3)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("direction must be a non-zero"), "{msg}");
    let d = ndarray::Array1::ones(3);
    for eps in [0.0, -1.0, f64::NAN] {
        assert!(pullback_jump(&mlp, 0, x.view(), d.view(), eps)
            .unwrap_err()
            .to_string()
            .contains("epsilon"));
    }
}

/// A fixed example (also printed by the tour): the inner product goes to 0 with ε while the
/// pullback difference keeps its size.
#[test]
fn noise_argument_on_a_fixed_network() {
    let mlp = Mlp::random(&[4, 6, 6, 5], 3, 2024).unwrap();
    let mut rng = pathspace::mlp::SplitMix64::new(5);
    let mut found = 0;
    for _ in 0..50 {
        let a = rng.matrix(1, 4, 2.0).row(0).to_owned();
        let b = rng.matrix(1, 4, 2.0).row(0).to_owned();
        if let Some(rows) = check_noise_argument(&mlp, 0, a.view(), b.view()) {
            let (_, inner_small, diff_small, _) = rows[rows.len() - 1];
            assert!(inner_small.abs() < 1e-9 && diff_small > 1e-6);
            found += 1;
        }
    }
    assert!(found >= 10, "only {found} non-degenerate boundaries found");
}
