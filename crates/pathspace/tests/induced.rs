//! Item 3: induced networks and pullbacks (Eq. 4–8), checked against forward products,
//! the network itself and central finite differences.

use approx::relative_eq;
use ndarray::{Array1, Axis};
use pathspace::induced::{
    induced_function, induced_logits, induced_output, induced_output_with_gates, matrix_field,
};
use pathspace::pullback::{input_gradient, pullback, pullback_from_gates, pullbacks_batch};
use pathspace::testing::{
    arb_class, arb_mlp_with_inputs, gating_of_kind, max_abs, max_abs_diff, tolerance,
};
use pathspace::{augment, Gating, HardGating};
use proptest::prelude::*;

proptest! {
    #![proptest_config(pathspace::testing::config(96, "induced"))]

    /// Eq. 7: f_Λ(x) = ⟨v_Λ(x), x̃⟩, with f_Λ from the gated *forward* chain and v_Λ from the
    /// *backward* chain, for hard, excitation, per-neuron, constant and frozen gatings.
    #[test]
    fn f_lambda_is_pullback_dot_augmented_input((mlp, xs) in arb_mlp_with_inputs(3), class in arb_class(), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(0));
        for x in xs.outer_iter() {
            let f = induced_function(&mlp, &gating, class, x).unwrap();
            let v = pullback(&mlp, &gating, class, x).unwrap();
            let xt = augment(x);
            let fv = v.dot(&xt);
            // both sides sum O(depth · width) products; the rounding error scales with the
            // dimension d_0 + 1 and with Σ|v_i x̃_i|, not with |f| (which may cancel to ~0)
            let dim = xt.len() as f64;
            let mass: f64 = v.iter().zip(xt.iter()).map(|(a, b)| (a * b).abs()).sum();
            prop_assert!(relative_eq!(f, fv, epsilon = 64.0 * dim * f64::EPSILON * (1.0 + mass) * 8.0, max_relative = 64.0 * dim * f64::EPSILON),
                "f_Λ = {f}, ⟨v_Λ, x̃⟩ = {fv}");
        }
    }

    /// M = M_G and f = f_G: the network is the hard-gated induced network.
    #[test]
    fn network_is_hard_gated_induced_network((mlp, xs) in arb_mlp_with_inputs(3)) {
        for x in xs.outer_iter() {
            let fwd = mlp.forward(x).unwrap();
            let m_g = induced_output(&mlp, &HardGating, x).unwrap();
            prop_assert!(max_abs_diff(fwd.output.view(), m_g.view()) <= tolerance(max_abs(m_g.view()), 64));
            let f_g = induced_logits(&mlp, &HardGating, x).unwrap();
            prop_assert!(max_abs_diff(fwd.logits.view(), f_g.view()) <= tolerance(max_abs(f_g.view()), 64));
        }
    }

    /// Eq. 5–6: M⃗_Λ(x) x̃ = [M_Λ(x); 1] and ỹ_cᵀ M⃗_Λ(x) = v_Λ(x)ᵀ.
    #[test]
    fn matrix_field_gives_output_and_pullback((mlp, xs) in arb_mlp_with_inputs(2), class in arb_class(), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(1));
        let x = xs.row(0);
        let gates = gating.gates(&mlp, x).unwrap();
        let m = matrix_field(&mlp, &gates).unwrap();
        prop_assert_eq!(m.dim(), (mlp.widths()[mlp.depth() - 1] + 1, mlp.input_dim() + 1));
        let out = m.dot(&augment(x));
        let expected = augment(induced_output_with_gates(&mlp, &gates, x).unwrap().view());
        prop_assert!(max_abs_diff(out.view(), expected.view()) <= tolerance(max_abs(expected.view()), 64));
        let v_field = mlp.augmented_head().row(class).dot(&m);
        let v = pullback_from_gates(&mlp, &gates, class).unwrap();
        prop_assert!(max_abs_diff(v_field.view(), v.view()) <= tolerance(max_abs(v.view()), 64));
    }

    /// Eq. 8: ∇f(x) = v_G(x) restricted to the true input coordinates, against central
    /// finite differences with a step small enough that no pre-activation changes sign
    /// (so the difference quotient of the piecewise-affine f is exact up to rounding).
    /// The last coordinate of v_G is then f(x) − ⟨∇f(x), x⟩ (the bias part).
    #[test]
    fn gradient_is_hard_pullback_on_true_coordinates((mlp, xs) in arb_mlp_with_inputs(2), class in arb_class()) {
        let x = xs.row(0);
        let fwd = mlp.forward(x).unwrap();
        let margin = fwd.pre_activations.iter().flat_map(|z| z.iter()).map(|v| v.abs()).fold(f64::INFINITY, f64::min);
        // |z_ℓ(x + δ) − z_ℓ(x)| ≤ ‖δ‖ Π_{k≤ℓ} ‖W_k‖_F
        let mut lip: f64 = 1.0;
        let mut lip_max: f64 = 0.0;
        for l in 1..=mlp.depth() {
            lip *= mlp.weight(l).iter().map(|w| w * w).sum::<f64>().sqrt().max(1e-300);
            lip_max = lip_max.max(lip);
        }
        let h = 0.25 * margin / lip_max;
        prop_assume!(h > 1e-7, "too close to a kink");
        let h = h.min(1e-2);
        let grad = input_gradient(&mlp, class, x).unwrap();
        let f0 = fwd.logits[class];
        let mut fd = Array1::zeros(x.len());
        for j in 0..x.len() {
            let mut xp = x.to_owned();
            let mut xm = x.to_owned();
            xp[j] += h;
            xm[j] -= h;
            fd[j] = (mlp.logits(xp.view()).unwrap()[class] - mlp.logits(xm.view()).unwrap()[class]) / (2.0 * h);
        }
        let scale = f0.abs() + max_abs(grad.view()) * 4.0 + 1.0;
        let tol = 1e-13 * scale / h * 64.0;
        prop_assert!(max_abs_diff(grad.view(), fd.view()) <= tol, "grad {grad} vs fd {fd} (tol {tol})");
        let v = pullback(&mlp, &HardGating, class, x).unwrap();
        let bias_part = f0 - fd.dot(&x);
        prop_assert!((v[x.len()] - bias_part).abs() <= tol * (1.0 + max_abs(x.view())) * x.len() as f64);
    }

    /// Batched pullbacks (matrix products, row-parallel) equal one-at-a-time pullbacks.
    #[test]
    fn batch_pullbacks_equal_single_pullbacks((mlp, xs) in arb_mlp_with_inputs(70), class in arb_class(), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(0));
        let batch = pullbacks_batch(&mlp, &gating, class, xs.view()).unwrap();
        for (n, x) in xs.outer_iter().enumerate() {
            let v = pullback(&mlp, &gating, class, x).unwrap();
            prop_assert!(max_abs_diff(batch.index_axis(Axis(0), n), v.view()) <= tolerance(max_abs(v.view()), 64));
        }
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let mlp = pathspace::Mlp::random(&[3, 4, 2], 3, 7).unwrap();
    let short = Array1::zeros(2);
    assert!(matches!(
        pullback(&mlp, &HardGating, 0, short.view()),
        Err(pathspace::Error::Shape { .. })
    ));
    let x = Array1::zeros(3);
    let err = pullback(&mlp, &HardGating, 3, x.view()).unwrap_err();
    assert!(err.to_string().contains("class 3"), "{err}");
    let nan = Array1::from_elem(3, f64::NAN);
    assert!(pullback(&mlp, &HardGating, 0, nan.view()).is_err());
}
