//! Item 10: stability quantities of Sec. 5.1.

use ndarray::{Array1, Axis};
use pathspace::path_space::{feature_map, omega, path_space_inner};
use pathspace::path_tensor::GateTensorField;
use pathspace::stability::{
    excitation_correlation, excitation_correlation_real_paths, field_values, gate_agreement,
    induced_values, pearson, strongly_correlated, tensor_pearson, STRONG_CORRELATION,
};
use pathspace::testing::{arb_class, arb_mlp_pair_with_inputs, atom_mass};
use pathspace::{
    CheckpointGating, Excitation, Gating, HardGating, LowRankTensor, Mlp, RankOneTensor, Sigma,
    Temperature,
};
use proptest::prelude::*;

#[test]
fn pearson_on_a_hand_computed_example() {
    // a = (1,2,3), b = (1,2,4): centred (−1,0,1) and (−4/3,−1/3,5/3);
    // Σ da·db = 3, Σ da² = 2, Σ db² = 14/3, so ρ = 3 / √(28/3).
    let a = Array1::from_vec(vec![1.0, 2.0, 3.0]);
    let b = Array1::from_vec(vec![1.0, 2.0, 4.0]);
    let expected = 3.0 / (28.0f64 / 3.0).sqrt();
    assert!((pearson(a.view(), b.view()).unwrap() - expected).abs() < 1e-15);
    assert!(strongly_correlated(a.view(), b.view(), STRONG_CORRELATION).unwrap());
    assert!(!strongly_correlated(a.view(), b.view(), 0.99).unwrap());
    assert!(pearson(a.view(), Array1::from_elem(3, 2.0).view()).is_err());
    assert!(pearson(a.view(), Array1::zeros(2).view()).is_err());
    assert!(pearson(Array1::ones(1).view(), Array1::ones(1).view()).is_err());
    let msg = pearson(a.view(), Array1::from_vec(vec![1.0, f64::NAN, 0.0]).view())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("entry 1 of the second vector"), "{msg}");
}

proptest! {
    #![proptest_config(pathspace::testing::config(64, "stability"))]

    /// ρ is invariant under positive affine maps, flips sign under negative ones, |ρ| ≤ 1.
    #[test]
    fn pearson_invariances(a in prop::collection::vec(-5.0f64..5.0, 3..20), s in 0.1f64..10.0, c in -3.0f64..3.0, noise in prop::collection::vec(-1.0f64..1.0, 20)) {
        let a = Array1::from_vec(a);
        prop_assume!(a.std(0.0) > 1e-3);
        let b = a.mapv(|v| s * v + c);
        prop_assert!((pearson(a.view(), b.view()).unwrap() - 1.0).abs() < 1e-12);
        prop_assert!((pearson(a.view(), b.mapv(|v| -v).view()).unwrap() + 1.0).abs() < 1e-12);
        let n = Array1::from_iter(noise.iter().take(a.len()).cloned());
        prop_assume!(n.std(0.0) > 1e-3);
        let r = pearson(a.view(), n.view()).unwrap();
        prop_assert!(r.abs() <= 1.0 && (r - pearson(n.view(), a.view()).unwrap()).abs() < 1e-15);
    }

    /// f_π^(t)(X) for the frozen binary field π = G̃^(s) (gates of checkpoint s) and
    /// parameters θ^(t), against the path-space formula ⟨φ_π(x), ω^(t)⟩ materialised
    /// entry by entry; with s = t it is f^(t)(X) itself.
    #[test]
    fn frozen_field_values((s_net, t_net, xs) in arb_mlp_pair_with_inputs(4), class in arb_class()) {
        let pi = CheckpointGating::new(&s_net, HardGating);
        let values = induced_values(&t_net, &pi, class, xs.view()).unwrap();
        let w = omega(&t_net, class, 5_000_000).unwrap();
        let tol = 1e-12 * (1.0 + atom_mass(&t_net, class)) * 10.0;
        for (n, x) in xs.outer_iter().enumerate() {
            let tau = RankOneTensor::from_gates(&HardGating.gates(&s_net, x).unwrap()).to_dense();
            let reference = path_space_inner(&feature_map(&tau, x), &w).unwrap();
            prop_assert!((values[n] - reference).abs() <= tol, "{} vs {reference}", values[n]);
        }
        let general = field_values(&t_net, class, &GateTensorField(pi), xs.view()).unwrap();
        for (a, b) in general.iter().zip(values.iter()) {
            prop_assert!((a - b).abs() <= tol);
        }
        let own = induced_values(&t_net, &HardGating, class, xs.view()).unwrap();
        let logits = t_net.logits_batch(xs.view()).unwrap();
        for (a, b) in own.iter().zip(logits.index_axis(Axis(1), class).iter()) {
            prop_assert!((a - b).abs() <= tol);
        }
    }

    /// Gate agreement against a direct count of equal signs of the pre-activations.
    #[test]
    fn gate_agreement_counts((a, b, xs) in arb_mlp_pair_with_inputs(6)) {
        let agreement = gate_agreement(&a, &b, xs.view()).unwrap();
        let (mut same, mut total) = (0usize, 0usize);
        for x in xs.outer_iter() {
            let za = a.pre_activations(x).unwrap();
            let zb = b.pre_activations(x).unwrap();
            for (l, (p, q)) in za.iter().zip(&zb).enumerate() {
                let s = p.iter().zip(q.iter()).filter(|(u, v)| (**u > 0.0) == (**v > 0.0)).count();
                same += s;
                total += p.len();
                prop_assert!((0.0..=1.0).contains(&agreement.per_layer[l]));
            }
        }
        prop_assert!((agreement.overall - same as f64 / total as f64).abs() < 1e-15);
        prop_assert_eq!(gate_agreement(&a, &a, xs.view()).unwrap().overall, 1.0);
    }

    /// ρ(Γ̃(x), π(x)) from per-layer factors equals the Pearson correlation of the
    /// materialised tensors; also for random low-rank tensors.
    #[test]
    fn tensor_pearson_from_factors((s_net, t_net, xs) in arb_mlp_pair_with_inputs(1), temp in 0.05f64..3.0, sg in 0usize..3, extra in prop::collection::vec(0.0f64..1.0, 80)) {
        let x = xs.row(0);
        let gamma = Excitation::new(Sigma::ALL[sg], Temperature::Global(temp)).unwrap();
        let pi = GateTensorField(CheckpointGating::new(&s_net, HardGating));
        let g_dense = RankOneTensor::from_gates(&gamma.gates(&t_net, x).unwrap()).to_dense();
        let p_dense = RankOneTensor::from_gates(&HardGating.gates(&s_net, x).unwrap()).to_dense();
        let flat = |a: &ndarray::ArrayD<f64>| Array1::from_iter(a.iter().cloned());
        match pearson(flat(&g_dense).view(), flat(&p_dense).view()) {
            Ok(reference) => {
                let r = excitation_correlation(&t_net, &gamma, &pi, x).unwrap();
                prop_assert!((r - reference).abs() <= 1e-9, "{r} vs {reference}");
            }
            Err(_) => prop_assert!(excitation_correlation(&t_net, &gamma, &pi, x).is_err()),
        }
        // the paper's version over real paths only: materialise Π_ℓ d_ℓ entries explicitly
        let real = |a: &ndarray::ArrayD<f64>| Array1::from_iter(pathspace::atoms::MultiIndex::new(t_net.widths()).map(|p| a[ndarray::IxDyn(&p)]));
        match pearson(real(&g_dense).view(), real(&p_dense).view()) {
            Ok(reference) => {
                let r = excitation_correlation_real_paths(&t_net, &gamma, &pi, x).unwrap();
                prop_assert!((r - reference).abs() <= 1e-9, "{r} vs {reference}");
            }
            Err(_) => prop_assert!(excitation_correlation_real_paths(&t_net, &gamma, &pi, x).is_err()),
        }
        let mut it = extra.into_iter().cycle();
        let mut random = |rank: usize| LowRankTensor::new((0..rank).map(|_| RankOneTensor::new(t_net.widths().iter().map(|&d| Array1::from_shape_simple_fn(d + 1, || it.next().unwrap())).collect()).unwrap()).collect()).unwrap();
        let (a, b) = (random(2), random(3));
        // (shrinking may make `extra` constant; ρ is then undefined on both sides)
        if let Ok(reference) = pearson(flat(&a.to_dense()).view(), flat(&b.to_dense()).view()) {
            prop_assert!((tensor_pearson(&a, &b).unwrap() - reference).abs() <= 1e-9);
        }
    }
}

/// Regression (found with PROPTEST_RNG_SEED=20): a saturated gate, γ = Φ(5.13) = 1 − 1.4e-7,
/// makes Γ̃ nearly constant. Its variance (≈ 1e-15) is real, and ρ against a binary π is
/// well defined; forming it as E[A²] − E[A]² lost it to cancellation and reported a
/// "constant path tensor". The factor formula must agree with the materialised tensors.
#[test]
fn tensor_pearson_of_a_nearly_constant_tensor() {
    for eps in [1e-4, 1.4e-7, 1e-9] {
        let a = RankOneTensor::new(vec![
            Array1::from_vec(vec![1.0 - eps, 1.0]),
            Array1::from_vec(vec![1.0 - eps, 1.0, 1.0]),
        ])
        .unwrap();
        let b = RankOneTensor::new(vec![
            Array1::from_vec(vec![0.0, 1.0]),
            Array1::from_vec(vec![1.0, 0.0, 1.0]),
        ])
        .unwrap();
        let flat = |t: &RankOneTensor| Array1::from_iter(t.to_dense().iter().cloned());
        let reference = pearson(flat(&a).view(), flat(&b).view()).unwrap();
        let r = tensor_pearson(&a.clone().into(), &b.clone().into()).unwrap();
        // entries 1 − O(ε) are stored to ±u, so centred values (and ρ, on both sides)
        // carry a relative error of order u/ε: the problem's own conditioning.
        let tol = 4.0 * f64::EPSILON / eps;
        assert!(
            (r - reference).abs() <= tol,
            "ε = {eps}: {r} vs {reference} (tol {tol})"
        );
        let sum = LowRankTensor::new(vec![a.clone(), b.clone()]).unwrap();
        let reference = pearson(
            Array1::from_iter(sum.to_dense().iter().cloned()).view(),
            flat(&a).view(),
        )
        .unwrap();
        assert!((tensor_pearson(&sum, &a.into()).unwrap() - reference).abs() <= tol);
    }
}

#[test]
fn stability_inputs_are_checked() {
    let a = Mlp::random(&[3, 4, 2], 3, 1).unwrap();
    let b = Mlp::random(&[3, 5, 2], 3, 1).unwrap();
    let xs = ndarray::Array2::zeros((2, 3));
    assert!(gate_agreement(&a, &b, xs.view()).is_err());
    assert!(gate_agreement(&a, &a, ndarray::Array2::zeros((0, 3)).view()).is_err());
    let ones = RankOneTensor::new(vec![Array1::ones(5), Array1::ones(3)]).unwrap();
    assert!(tensor_pearson(&ones.clone().into(), &ones.into()).is_err());
    let msg = RankOneTensor::new(vec![
        Array1::ones(2),
        Array1::from_vec(vec![1.0, f64::INFINITY]),
    ])
    .unwrap_err()
    .to_string();
    assert!(msg.contains("factor 2") && msg.contains("index 1"), "{msg}");
}
