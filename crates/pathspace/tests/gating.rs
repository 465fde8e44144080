//! Item 2: pre-activations Z (Eq. 2), hard gates G (Eq. 1), gating functions Λ (Eq. 3),
//! excitation gates Γ (Eq. 21) with the σ family and temperatures, frozen gates.

use ndarray::{Array1, Axis};
use pathspace::gating::{erfc, hard_gate, normal_cdf};
use pathspace::induced::induced_function;
use pathspace::testing::{arb_class, arb_mlp_pair_with_inputs, arb_mlp_with_inputs, gating_of_kind, max_abs, max_abs_diff, tolerance};
use pathspace::{augment, CheckpointGating, ConstantGating, Error, Excitation, FrozenGating, Gates, Gating, HardGating, Mlp, Sigma, Temperature};
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

    /// Batched gates equal per-input gates for every kind of gating.
    #[test]
    fn batch_gates_equal_single_gates((mlp, xs) in arb_mlp_with_inputs(5), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(0));
        let batch = gating.gates_batch(&mlp, xs.view()).unwrap();
        for (n, x) in xs.outer_iter().enumerate() {
            let g = gating.gates(&mlp, x).unwrap();
            for l in 1..=mlp.depth() {
                prop_assert!(max_abs_diff(batch[l - 1].index_axis(Axis(0), n), g.layer(l).view()) <= 1e-15);
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
        assert!((normal_cdf(s) - p).abs() < 1e-14, "Φ({s}) = {} vs {p}", normal_cdf(s));
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
    let err = Excitation::new(Sigma::Sigmoid, Temperature::PerNeuron(vec![Array1::from_vec(vec![1.0, 0.0])])).unwrap_err();
    assert!(err.to_string().contains("layer 1 neuron 1"), "{err}");
    let mlp = Mlp::random(&[3, 4, 2], 3, 7).unwrap();
    let x = Array1::zeros(3);
    let wrong = Excitation::new(Sigma::Sigmoid, Temperature::PerLayer(vec![0.3])).unwrap();
    assert!(matches!(wrong.gates(&mlp, x.view()), Err(Error::Shape { .. })));
    assert!(matches!(Gates::new(vec![Array1::from_vec(vec![0.5, 1.5])]), Err(Error::GateOutOfRange { layer: 1, neuron: 1, .. })));
    assert!(ConstantGating(1.2).gates(&mlp, x.view()).is_err());
    let other = Mlp::random(&[3, 5, 2], 3, 7).unwrap();
    assert!(CheckpointGating::new(&other, HardGating).gates(&mlp, x.view()).is_err());
    assert_eq!(hard_gate(Array1::from_vec(vec![-1.0, 0.0, 2.0]).view()), Array1::from_vec(vec![0.0, 0.0, 1.0]));
}

#[test]
fn excitation_is_soft_and_sigma_family_matches_definitions() {
    // sigmoid(1) = 1/(1+e^-1); softsign rescaled at s = 1: (1 + 1/2)/2 = 0.75.
    assert!((Sigma::Sigmoid.apply(1.0) - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-16);
    assert_eq!(Sigma::Softsign.apply(1.0), 0.75);
    assert_eq!(Sigma::Softsign.apply(-3.0), 0.125);
    assert!(Sigma::Sigmoid.apply(-800.0) >= 0.0 && Sigma::Sigmoid.apply(800.0) <= 1.0);
    let _ = max_abs(Array1::<f64>::zeros(1).view());
}
