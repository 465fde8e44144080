//! Item 2: pre-activations Z (Eq. 2), hard gates G (Eq. 1), gating functions Λ (Eq. 3),
//! excitation gates Γ (Eq. 21) with the σ family and temperatures, frozen gates.

use ndarray::{Array1, Axis};
use pathspace::gating::{erfc, hard_gate, normal_cdf};
use pathspace::induced::induced_function;
use pathspace::testing::{
    arb_class, arb_mlp_pair_with_inputs, arb_mlp_with_inputs, gating_of_kind, max_abs,
    max_abs_diff, tolerance,
};
use pathspace::{
    augment, CheckpointGating, ConstantGating, Error, Excitation, FrozenGating, Gates, Gating,
    HardGating, Mlp, Sigma, Temperature,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(pathspace::testing::config(96, "gating"))]

    /// Z(x) from the forward pass equals the augmented products z̃_ℓ = W̃_ℓ x̃_{ℓ-1}
    /// (whose last entry is the constant 1), and G(x) = 1[z > 0].
    #[test]
    fn pre_activations_and_hard_gates((mlp, xs) in arb_mlp_with_inputs(3)) {
        for x in xs.outer_iter() {
            let z = mlp.pre_activations(x).unwrap();
            let g = HardGating.gates(&mlp, x).unwrap();
            let mut xt = augment(x);
            for l in 1..=mlp.depth() {
                let zt = mlp.augmented_weight(l).dot(&xt);
                let d = mlp.widths()[l - 1];
                prop_assert_eq!(zt[d], 1.0);
                for i in 0..d {
                    prop_assert!((zt[i] - z[l - 1][i]).abs() <= tolerance(zt[i], 32));
                    prop_assert_eq!(g.layer(l)[i], if z[l - 1][i] > 0.0 { 1.0 } else { 0.0 });
                }
                xt = zt.mapv(|v| v.max(0.0));
            }
        }
    }

    /// Γ = σ(z/T) with σ ∈ {sigmoid, normal CDF, rescaled softsign}: values in [0,1],
    /// monotone in z, ½ at z = 0; per-layer and per-neuron temperatures agree when equal.
    #[test]
    fn excitation_gates((mlp, xs) in arb_mlp_with_inputs(2), t in 0.05f64..3.0, s in 0usize..3) {
        let sigma = Sigma::ALL[s];
        let x = xs.row(0);
        let z = mlp.pre_activations(x).unwrap();
        let global = Excitation::new(sigma, Temperature::Global(t)).unwrap().gates(&mlp, x).unwrap();
        let per_layer = Excitation::new(sigma, Temperature::PerLayer(vec![t; mlp.depth()])).unwrap().gates(&mlp, x).unwrap();
        let per_neuron = Excitation::new(sigma, Temperature::PerNeuron(mlp.widths().iter().map(|&d| Array1::from_elem(d, t)).collect())).unwrap().gates(&mlp, x).unwrap();
        prop_assert_eq!(&global, &per_layer);
        prop_assert_eq!(&global, &per_neuron);
        for l in 1..=mlp.depth() {
            for (i, &zi) in z[l - 1].iter().enumerate() {
                let gi = global.layer(l)[i];
                prop_assert!((0.0..=1.0).contains(&gi));
                prop_assert_eq!(gi, sigma.apply(zi / t));
                prop_assert!((gi - 0.5) * zi >= 0.0, "σ(z/T) − ½ has the sign of z");
            }
        }
        prop_assert_eq!(sigma.apply(0.0), 0.5);
        prop_assert!(sigma.apply(-1.0) < sigma.apply(-0.5) && sigma.apply(0.5) < sigma.apply(1.0));
    }

    /// Per-layer temperatures T_ℓ (distinct across layers): γ_ℓ[i] = σ(z_ℓ[i] / T_ℓ) against
    /// σ applied by hand, for single inputs and batches, and equal to per-neuron temperatures
    /// that repeat T_ℓ across layer ℓ. (With equal temperatures, as in `excitation_gates`,
    /// using the wrong layer's T would go unnoticed.)
    #[test]
    fn per_layer_temperatures_are_per_layer((mlp, xs) in arb_mlp_with_inputs(3), ts in prop::collection::vec(0.05f64..3.0, 4), s in 0usize..3) {
        let sigma = Sigma::ALL[s];
        let ts: Vec<f64> = ts[..mlp.depth()].to_vec();
        let per_layer = Excitation::new(sigma, Temperature::PerLayer(ts.clone())).unwrap();
        let per_neuron = Excitation::new(sigma, Temperature::PerNeuron(mlp.widths().iter().zip(&ts).map(|(&d, &t)| Array1::from_elem(d, t)).collect())).unwrap();
        let batch = per_layer.gates_batch(&mlp, xs.view()).unwrap();
        let z_batch = mlp.pre_activations_batch(xs.view()).unwrap();
        for (n, x) in xs.outer_iter().enumerate() {
            let z = mlp.pre_activations(x).unwrap();
            let g = per_layer.gates(&mlp, x).unwrap();
            prop_assert_eq!(&g, &per_neuron.gates(&mlp, x).unwrap());
            for l in 1..=mlp.depth() {
                for i in 0..mlp.widths()[l - 1] {
                    prop_assert_eq!(g.layer(l)[i], sigma.apply(z[l - 1][i] / ts[l - 1]));
                    prop_assert_eq!(batch[l - 1][[n, i]], sigma.apply(z_batch[l - 1][[n, i]] / ts[l - 1]));
                }
            }
        }
    }

    /// Batched gates equal per-input gates for every kind of gating. The batch computes Z
    /// with matrix products (another summation order), so z may differ by rounding δz and
    /// γ = σ(z/T) by at most max σ' · δz / T ≤ δz / T; a hard gate may only differ where
    /// |z| ≤ δz.
    #[test]
    fn batch_gates_equal_single_gates((mlp, xs) in arb_mlp_with_inputs(5), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(0));
        let batch = gating.gates_batch(&mlp, xs.view()).unwrap();
        let z_batch = mlp.pre_activations_batch(xs.view()).unwrap();
        for (n, x) in xs.outer_iter().enumerate() {
            let g = gating.gates(&mlp, x).unwrap();
            let z = mlp.pre_activations(x).unwrap();
            for l in 1..=mlp.depth() {
                let dz = tolerance(max_abs(z[l - 1].view()), 64);
                prop_assert!(max_abs_diff(z_batch[l - 1].index_axis(Axis(0), n), z[l - 1].view()) <= dz);
                for (i, (&gb, &gs)) in batch[l - 1].index_axis(Axis(0), n).iter().zip(g.layer(l)).enumerate() {
                    let tol = if kind % 5 == 0 { if z[l - 1][i].abs() <= dz { 1.0 } else { 0.0 } } else { dz / t };
                    prop_assert!((gb - gs).abs() <= tol, "layer {l} neuron {i}: batch {gb} vs single {gs} (tol {tol})");
                }
            }
        }
    }

    /// Frozen gates: Λ(x₀) applied everywhere; the frozen induced function is affine in x
    /// and agrees with f_Λ at x₀.
    #[test]
    fn frozen_gates_give_an_affine_function((mlp, xs) in arb_mlp_with_inputs(3), class in arb_class(), alpha in -1.0f64..2.0) {
        let x0 = xs.row(0);
        let frozen = FrozenGating::at(&HardGating, &mlp, x0).unwrap();
        prop_assert_eq!(frozen.gates(&mlp, xs.row(1)).unwrap(), HardGating.gates(&mlp, x0).unwrap());
        let f = |x: ndarray::ArrayView1<f64>| induced_function(&mlp, &frozen, class, x).unwrap();
        prop_assert!((f(x0) - mlp.logits(x0).unwrap()[class]).abs() <= tolerance(f(x0), 64));
        let mix = &xs.row(1) * alpha + &xs.row(2) * (1.0 - alpha);
        let lhs = f(mix.view());
        let rhs = alpha * f(xs.row(1)) + (1.0 - alpha) * f(xs.row(2));
        prop_assert!((lhs - rhs).abs() <= tolerance(lhs.abs() + rhs.abs() + 10.0, 256));
    }

    /// The gates of another checkpoint: CheckpointGating(θ^(s), G) at x equals G^(s)(x).
    #[test]
    fn checkpoint_gates_are_the_other_networks_gates((a, b, xs) in arb_mlp_pair_with_inputs(2)) {
        let g = CheckpointGating::new(&b, HardGating).gates(&a, xs.row(0)).unwrap();
        prop_assert_eq!(g, HardGating.gates(&b, xs.row(0)).unwrap());
    }
}

#[test]
fn normal_cdf_matches_reference_values() {
    // Φ values from standard normal tables (e.g. scipy.stats.norm.cdf).
    let table = [
        (0.0, 0.5),
        (1.0, 0.841_344_746_068_542_9),
        (-1.0, 0.158_655_253_931_457_05),
        (2.0, 0.977_249_868_051_820_8),
        (-3.0, 0.001_349_898_031_630_094_6),
        (1.959_963_984_540_054, 0.975),
    ];
    for (s, p) in table {
        assert!(
            (normal_cdf(s) - p).abs() < 1e-14,
            "Φ({s}) = {} vs {p}",
            normal_cdf(s)
        );
    }
    assert!((erfc(3.0) - 2.209_049_699_858_544e-5).abs() < 1e-18);
}

#[test]
fn normal_cdf_derivative_is_the_density() {
    // Independent check over a grid crossing the series/continued-fraction switch at
    // |s| = 2.5 √2: central differences of Φ against φ(s) = e^{-s²/2}/√(2π).
    let h = 1e-5;
    let mut s = -8.0;
    while s <= 8.0 {
        let fd = (normal_cdf(s + h) - normal_cdf(s - h)) / (2.0 * h);
        let pdf = (-0.5 * s * s).exp() / (2.0 * std::f64::consts::PI).sqrt();
        assert!((fd - pdf).abs() < 1e-9, "s = {s}: {fd} vs {pdf}");
        assert!((normal_cdf(s) + normal_cdf(-s) - 1.0).abs() < 1e-15);
        s += 0.0625;
    }
}

#[test]
fn invalid_temperatures_and_gates_are_errors() {
    for t in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = Excitation::new(Sigma::Sigmoid, Temperature::Global(t)).unwrap_err();
        assert!(matches!(err, Error::InvalidTemperature { .. }), "{err}");
    }
    let err = Excitation::new(
        Sigma::Sigmoid,
        Temperature::PerNeuron(vec![Array1::from_vec(vec![1.0, 0.0])]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("layer 1 neuron 1"), "{err}");
    let mlp = Mlp::random(&[3, 4, 2], 3, 7).unwrap();
    let x = Array1::zeros(3);
    let wrong = Excitation::new(Sigma::Sigmoid, Temperature::PerLayer(vec![0.3])).unwrap();
    assert!(matches!(
        wrong.gates(&mlp, x.view()),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        Gates::new(vec![Array1::from_vec(vec![0.5, 1.5])]),
        Err(Error::GateOutOfRange {
            layer: 1,
            neuron: 1,
            ..
        })
    ));
    assert!(ConstantGating(1.2).gates(&mlp, x.view()).is_err());
    let other = Mlp::random(&[3, 5, 2], 3, 7).unwrap();
    assert!(CheckpointGating::new(&other, HardGating)
        .gates(&mlp, x.view())
        .is_err());
    assert_eq!(
        hard_gate(Array1::from_vec(vec![-1.0, 0.0, 2.0]).view()),
        Array1::from_vec(vec![0.0, 0.0, 1.0])
    );
}

/// Eq. 1 gates with g = 1 only for z > 0: a pre-activation that is exactly 0 is off, in
/// the single and the batched path (random tests never hit z = 0 exactly).
#[test]
fn hard_gate_is_off_at_exactly_zero() {
    // z_1 = 1·0.5 + 0.5·1 − 1 = 0 exactly, z_1' = 0.5 + 1 + 0.25 > 0
    let w = ndarray::arr2(&[[1.0, 0.5], [1.0, 1.0]]);
    let b = Array1::from_vec(vec![-1.0, 0.25]);
    let mlp = Mlp::new(
        vec![w],
        vec![b],
        ndarray::arr2(&[[1.0, -1.0], [0.5, 0.5]]),
        Array1::from_vec(vec![0.1, -0.1]),
    )
    .unwrap();
    let x = Array1::from_vec(vec![0.5, 1.0]);
    assert_eq!(mlp.pre_activations(x.view()).unwrap()[0][0], 0.0);
    let expected = Array1::from_vec(vec![0.0, 1.0]);
    assert_eq!(
        HardGating.gates(&mlp, x.view()).unwrap().layer(1),
        &expected
    );
    let xs = x.clone().insert_axis(Axis(0));
    assert_eq!(
        HardGating.gates_batch(&mlp, xs.view()).unwrap()[0].row(0),
        expected
    );
}

/// A tiny (subnormal) temperature is valid (finite, > 0) but makes z/T overflow to ±∞:
/// every σ must still return its limit (the hard gate), never NaN (softsign gave ∞/∞).
#[test]
fn tiny_temperature_gives_hard_gates_not_nan() {
    let mlp = Mlp::random(&[3, 5, 4], 2, 9).unwrap();
    let x = Array1::from_vec(vec![0.7, -1.2, 0.4]);
    let hard = HardGating.gates(&mlp, x.view()).unwrap();
    for sigma in Sigma::ALL {
        let gamma = Excitation::new(sigma, Temperature::Global(1e-310)).unwrap();
        assert_eq!(gamma.gates(&mlp, x.view()).unwrap(), hard, "{sigma:?}");
        assert_eq!(sigma.apply(f64::INFINITY), 1.0, "{sigma:?}");
        assert_eq!(sigma.apply(f64::NEG_INFINITY), 0.0, "{sigma:?}");
    }
}

#[test]
fn excitation_is_soft_and_sigma_family_matches_definitions() {
    // sigmoid(1) = 1/(1+e^-1); softsign rescaled at s = 1: (1 + 1/2)/2 = 0.75.
    assert!((Sigma::Sigmoid.apply(1.0) - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-16);
    assert_eq!(Sigma::Softsign.apply(1.0), 0.75);
    assert_eq!(Sigma::Softsign.apply(-3.0), 0.125);
    assert!(Sigma::Sigmoid.apply(-800.0) >= 0.0 && Sigma::Sigmoid.apply(800.0) <= 1.0);
    // both branches of the sigmoid against the independent form (1 + tanh(s/2)) / 2, and
    // the rescaled softsign against its definition, on a grid through 0
    let mut s: f64 = -30.0;
    while s <= 30.0 {
        let reference = 0.5 * (1.0 + (0.5 * s).tanh());
        assert!(
            approx::relative_eq!(
                Sigma::Sigmoid.apply(s),
                reference,
                epsilon = 4.0 * f64::EPSILON,
                max_relative = 1e-14
            ),
            "sigmoid({s})"
        );
        assert!(
            approx::relative_eq!(
                Sigma::Softsign.apply(s),
                0.5 + 0.5 * s / (1.0 + s.abs()),
                epsilon = 2.0 * f64::EPSILON
            ),
            "softsign({s})"
        );
        s += 0.37;
    }
    let _ = max_abs(Array1::<f64>::zeros(1).view());
}
