//! Item 4: neuron pullbacks, layer decomposition, path activity, atoms and the explicit
//! path sum (Sec. 3.1, Eq. 9–11). The explicit path sum indexes single entries of W̃_ℓ
//! and is the independent reference for the backward pass.

use approx::relative_eq;
use ndarray::{Array1, Array2};
use pathspace::atoms::{
    augmented_path_count, path_activity, path_sum, path_sum_pullback, paths, DEFAULT_PATH_LIMIT,
};
use pathspace::pullback::{neuron_coefficients, neuron_pullback, pullback_from_gates};
use pathspace::testing::{
    arb_class, arb_mlp_with_inputs, gating_of_kind, max_abs, max_abs_diff, tolerance,
};
use pathspace::{augment, Gating, Mlp};
use proptest::prelude::*;

/// Gated pre-activations z^Λ_ℓ computed by a plain loop: z_ℓ = W_ℓ a_{ℓ-1} + b_ℓ with
/// a_ℓ = λ_ℓ ⊙ z_ℓ (for Λ = G these are the network's own pre-activations).
fn gated_pre_activations(
    mlp: &Mlp,
    gates: &pathspace::Gates,
    x: ndarray::ArrayView1<f64>,
) -> Vec<Array1<f64>> {
    let mut a = x.to_owned();
    let mut out = Vec::new();
    for l in 1..=mlp.depth() {
        let w = mlp.weight(l);
        let b = mlp.bias(l);
        let mut z = Array1::zeros(w.nrows());
        for i in 0..w.nrows() {
            let mut s = b[i];
            for j in 0..w.ncols() {
                s += w[[i, j]] * a[j];
            }
            z[i] = s;
        }
        a = &z * gates.layer(l);
        out.push(z);
    }
    out
}

proptest! {
    #![proptest_config(pathspace::testing::config(96, "atoms"))]

    /// v_Λ|(ℓ,i) represents the (gated) pre-activation of neuron (ℓ,i):
    /// z^Λ_ℓ[i](x) = ⟨v_Λ|(ℓ,i)(x), x̃⟩; for ℓ = 1 it is the row [W_1[i]; b_1[i]].
    #[test]
    fn neuron_pullbacks_represent_pre_activations((mlp, xs) in arb_mlp_with_inputs(2), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(1));
        let x = xs.row(0);
        let gates = gating.gates(&mlp, x).unwrap();
        let z = gated_pre_activations(&mlp, &gates, x);
        let xt = augment(x);
        #[allow(clippy::needless_range_loop)]
        for l in 1..=mlp.depth() {
            for i in 0..=mlp.widths()[l - 1] {
                let v = neuron_pullback(&mlp, &gates, l, i).unwrap();
                let expected = if i == mlp.widths()[l - 1] { 1.0 } else { z[l - 1][i] };
                prop_assert!((v.dot(&xt) - expected).abs() <= tolerance(max_abs(v.view()) * 3.0, 64));
                if l == 1 && i < mlp.widths()[0] {
                    let mut row = augment(mlp.weight(1).row(i));
                    row[mlp.input_dim()] = mlp.bias(1)[i];
                    prop_assert!(max_abs_diff(v.view(), row.view()) == 0.0);
                }
            }
        }
    }

    /// Sec. 3.1: v_Λ = Σ_i y[i] λ_L[i] v_Λ|(L,i) + b^y e_{d_0} (the head bias is the
    /// constant neuron's term), and more generally v_Λ = Σ_i a_(ℓ,i) v_Λ|(ℓ,i) in every layer.
    #[test]
    fn layer_decomposition((mlp, xs) in arb_mlp_with_inputs(2), class in arb_class(), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(1));
        let gates = gating.gates(&mlp, xs.row(0)).unwrap();
        let v = pullback_from_gates(&mlp, &gates, class).unwrap();
        let tol = tolerance(max_abs(v.view()) * 8.0, 256);
        let big_l = mlp.depth();
        let d_l = mlp.widths()[big_l - 1];
        // the paper's formula, written out
        let mut sum = Array1::zeros(mlp.input_dim() + 1);
        for i in 0..d_l {
            let vi = neuron_pullback(&mlp, &gates, big_l, i).unwrap();
            sum.scaled_add(mlp.head()[[class, i]] * gates.layer(big_l)[i], &vi);
        }
        sum[mlp.input_dim()] += mlp.head_bias()[class];
        prop_assert!(max_abs_diff(sum.view(), v.view()) <= tol, "{sum} vs {v}");
        // the coefficients at layer L are y ⊙ λ_L and b^y
        let a = neuron_coefficients(&mlp, &gates, class, big_l).unwrap();
        for i in 0..d_l {
            prop_assert!((a[i] - mlp.head()[[class, i]] * gates.layer(big_l)[i]).abs() <= 1e-15);
        }
        prop_assert_eq!(a[d_l], mlp.head_bias()[class]);
        // every layer
        for l in 1..=big_l {
            let a = neuron_coefficients(&mlp, &gates, class, l).unwrap();
            let mut sum = Array1::zeros(mlp.input_dim() + 1);
            for i in 0..=mlp.widths()[l - 1] {
                sum.scaled_add(a[i], &neuron_pullback(&mlp, &gates, l, i).unwrap());
            }
            prop_assert!(max_abs_diff(sum.view(), v.view()) <= tol, "layer {l}: {sum} vs {v}");
        }
    }

    /// Eq. 11: the backward-pass v_Λ equals the explicit sum over all augmented paths of
    /// Λ^p(x) · a_p; the path activity is a product of gates in [0,1] (binary for G).
    #[test]
    fn pullback_equals_explicit_path_sum((mlp, xs) in arb_mlp_with_inputs(2), class in arb_class(), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(1));
        let gates = gating.gates(&mlp, xs.row(0)).unwrap();
        let v = pullback_from_gates(&mlp, &gates, class).unwrap();
        let reference = path_sum_pullback(&mlp, &gates, class, DEFAULT_PATH_LIMIT).unwrap();
        let mass = pathspace::testing::atom_mass(&mlp, class);
        // |Σ_p Λ^p a_p| may cancel: the absolute floor scales with the atom mass Σ_p ‖a_p‖₁
        // and the number of paths (each term rounds once per layer)
        let paths_count = augmented_path_count(&mlp) as f64;
        let eps = 4.0 * mlp.depth() as f64 * f64::EPSILON * (1.0 + mass) * paths_count.sqrt().max(1.0);
        prop_assert!(v.iter().zip(reference.iter()).all(|(a, b)| relative_eq!(*a, *b, epsilon = eps, max_relative = 1e-13)),
            "{v} vs {reference} (ε = {eps})");
        let mut count = 0u128;
        for p in paths(&mlp, DEFAULT_PATH_LIMIT).unwrap() {
            let a = path_activity(&gates, &p);
            prop_assert!((0.0..=1.0).contains(&a));
            if kind % 5 == 0 {
                prop_assert!(a == 0.0 || a == 1.0);
            }
            count += 1;
        }
        prop_assert_eq!(count, augmented_path_count(&mlp));
    }

    /// The bias paths are exactly the paths through a constant neuron: summing only the
    /// paths of real neurons gives the pullback of the same network with b_2, …, b_L and the
    /// head bias set to zero (b_1 stays: it is the last coordinate of the atoms' row
    /// W̃_1[p_1], i.e. the path from the input's constant 1). With b_1 = 0 as well the last
    /// coordinate vanishes.
    #[test]
    fn real_paths_are_the_bias_free_network((mlp, xs) in arb_mlp_with_inputs(1), class in arb_class(), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(0));
        let gates = gating.gates(&mlp, xs.row(0)).unwrap();
        let widths = mlp.widths();
        let real_only = path_sum(&mlp, class, |p| {
            if p.iter().zip(&widths).any(|(&i, &d)| i == d) { 0.0 } else { path_activity(&gates, p) }
        }, DEFAULT_PATH_LIMIT).unwrap();
        let weights: Vec<Array2<f64>> = (1..=mlp.depth()).map(|l| mlp.weight(l).clone()).collect();
        let mut biases: Vec<Array1<f64>> = widths.iter().map(|&d| Array1::zeros(d)).collect();
        biases[0] = mlp.bias(1).clone();
        let unbiased = Mlp::new(weights.clone(), biases.clone(), mlp.head().clone(), Array1::zeros(mlp.num_classes())).unwrap();
        let v0 = pullback_from_gates(&unbiased, &gates, class).unwrap();
        prop_assert!(max_abs_diff(real_only.view(), v0.view()) <= tolerance(max_abs(v0.view()) * 8.0, 256), "{real_only} vs {v0}");
        biases[0] = Array1::zeros(widths[0]);
        let none = Mlp::new(weights, biases, mlp.head().clone(), Array1::zeros(mlp.num_classes())).unwrap();
        prop_assert_eq!(pullback_from_gates(&none, &gates, class).unwrap()[mlp.input_dim()], 0.0);
    }
}

#[test]
fn path_enumeration_refuses_large_networks() {
    let mlp = Mlp::random(&[4, 200, 200, 200, 200], 2, 1).unwrap();
    let err = paths(&mlp, DEFAULT_PATH_LIMIT).unwrap_err();
    assert!(err.to_string().contains("paths exceed the limit"), "{err}");
}

#[test]
fn bad_neuron_indices_are_errors() {
    let mlp = Mlp::random(&[3, 4, 2], 3, 7).unwrap();
    let gates = pathspace::HardGating
        .gates(&mlp, ndarray::Array1::zeros(3).view())
        .unwrap();
    assert!(neuron_pullback(&mlp, &gates, 0, 0).is_err());
    assert!(neuron_pullback(&mlp, &gates, 3, 0).is_err());
    assert!(neuron_pullback(&mlp, &gates, 1, 5).is_err());
    assert!(neuron_pullback(&mlp, &gates, 1, 4).is_ok());
}
