//! Item 5: tensor fields (Eq. 12–15). Rank-R pullbacks (R backward passes) against the
//! dense path sum over materialised tensors.

use ndarray::{Array1, ArrayD, IxDyn};
use pathspace::atoms::{path_activity, paths, DEFAULT_PATH_LIMIT};
use pathspace::path_tensor::{dense_pullback, field_value, induced_value, low_rank_pullback};
use pathspace::pullback::pullback;
use pathspace::testing::{arb_class, arb_mlp_with_inputs, atom_mass, gating_of_kind, max_abs_diff};
use pathspace::{GateTensorField, Gating, LowRankTensor, Mlp, RankOneTensor};
use proptest::prelude::*;

/// Random factors in [0,1] (the constant neuron included) for `rank` terms.
fn arb_low_rank(mlp: &Mlp, rank: usize) -> impl Strategy<Value = LowRankTensor> {
    let shape: Vec<usize> = mlp.widths().iter().map(|d| d + 1).collect();
    let total: usize = shape.iter().sum::<usize>() * rank;
    prop::collection::vec(0.0f64..1.0, total).prop_map(move |v| {
        let mut it = v.into_iter();
        let terms = (0..rank)
            .map(|_| {
                RankOneTensor::new(
                    shape
                        .iter()
                        .map(|&n| Array1::from_shape_simple_fn(n, || it.next().unwrap()))
                        .collect(),
                )
                .unwrap()
            })
            .collect();
        LowRankTensor::new(terms).unwrap()
    })
}

fn case() -> impl Strategy<Value = (Mlp, ndarray::Array2<f64>, LowRankTensor, LowRankTensor)> {
    (arb_mlp_with_inputs(2), 1usize..=4, 1usize..=3).prop_flat_map(|((mlp, xs), r1, r2)| {
        let a = arb_low_rank(&mlp, r1);
        let b = arb_low_rank(&mlp, r2);
        (Just(mlp), Just(xs), a, b)
    })
}

proptest! {
    #![proptest_config(pathspace::testing::config(96, "path_tensor"))]

    /// Eq. 12–13: Λ̃(x) = ⊗ λ̃_ℓ(x) has entries Λ^p(x), and v_Λ̃ = v_Λ.
    #[test]
    fn rank_one_gate_tensor((mlp, xs) in arb_mlp_with_inputs(2), class in arb_class(), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(1));
        let x = xs.row(0);
        let gates = gating.gates(&mlp, x).unwrap();
        let tensor = RankOneTensor::from_gates(&gates);
        let dense = tensor.to_dense();
        for p in paths(&mlp, DEFAULT_PATH_LIMIT).unwrap() {
            prop_assert!((dense[IxDyn(&p)] - path_activity(&gates, &p)).abs() <= 1e-15);
        }
        let v_tensor = low_rank_pullback(&mlp, class, &tensor.into()).unwrap();
        let v = pullback(&mlp, &gating, class, x).unwrap();
        prop_assert!(max_abs_diff(v_tensor.view(), v.view()) <= 1e-14 * (1.0 + atom_mass(&mlp, class)));
        let f = field_value(&mlp, class, &GateTensorField(&gating), x).unwrap();
        prop_assert!((f - pathspace::induced::induced_function(&mlp, &gating, class, x).unwrap()).abs() <= 1e-12 * (1.0 + atom_mass(&mlp, class)));
    }

    /// Eq. 14: v_τ for a rank-R τ by R backward passes equals the explicit sum over paths of
    /// the materialised τ; v_τ is linear in τ; f_τ = ⟨v_τ, x̃⟩ = Σ_p τ_p ⟨a_p, x̃⟩ (Eq. 15).
    #[test]
    fn low_rank_pullback_equals_dense_path_sum((mlp, xs, a, b) in case(), class in arb_class()) {
        let mass = atom_mass(&mlp, class);
        let tol = 1e-13 * (1.0 + mass) * (a.rank() + b.rank()) as f64;
        let va = low_rank_pullback(&mlp, class, &a).unwrap();
        let dense_a = a.to_dense();
        let reference = dense_pullback(&mlp, class, &dense_a, DEFAULT_PATH_LIMIT).unwrap();
        prop_assert!(max_abs_diff(va.view(), reference.view()) <= tol);
        let vb = low_rank_pullback(&mlp, class, &b).unwrap();
        let sum = LowRankTensor::new(a.terms().iter().chain(b.terms()).cloned().collect()).unwrap();
        let v_sum = low_rank_pullback(&mlp, class, &sum).unwrap();
        prop_assert!(max_abs_diff(v_sum.view(), (&va + &vb).view()) <= tol);
        let dense_sum: ArrayD<f64> = &dense_a + &b.to_dense();
        prop_assert!(max_abs_diff(v_sum.view(), dense_pullback(&mlp, class, &dense_sum, DEFAULT_PATH_LIMIT).unwrap().view()) <= tol);
        let x = xs.row(0);
        let net = pathspace::atoms::AugmentedNetwork::new(&mlp);
        let xt = pathspace::augment(x);
        let f_paths: f64 = paths(&mlp, DEFAULT_PATH_LIMIT).unwrap().map(|p| a.entry(&p) * net.atom(class, &p).dot(&xt)).sum();
        let f = induced_value(va.view(), x).unwrap();
        prop_assert!((f - f_paths).abs() <= tol * (1.0 + xt.iter().map(|v| v.abs()).sum::<f64>()));
    }
}

#[test]
fn tensor_shapes_are_checked() {
    let mlp = Mlp::random(&[3, 4, 2], 3, 7).unwrap();
    let wrong = RankOneTensor::new(vec![Array1::ones(4), Array1::ones(3)]).unwrap();
    let err = low_rank_pullback(&mlp, 0, &wrong.into()).unwrap_err();
    assert!(err.to_string().contains("[5, 3]"), "{err}");
    assert!(LowRankTensor::new(vec![]).is_err());
    let a = RankOneTensor::new(vec![Array1::ones(5), Array1::ones(3)]).unwrap();
    let b = RankOneTensor::new(vec![Array1::ones(5), Array1::ones(4)]).unwrap();
    assert!(LowRankTensor::new(vec![a, b]).is_err());
}

/// A field given as a closure (rank 2, depending on x through the hard gates) and its dense
/// counterpart give the same f_τ.
#[test]
fn closure_and_dense_fields_agree() {
    use pathspace::path_tensor::dense_field_value;
    let mlp = Mlp::random(&[3, 4, 3, 2], 3, 17).unwrap();
    let field = |m: &Mlp, x: ndarray::ArrayView1<f64>| -> pathspace::Result<LowRankTensor> {
        let g = RankOneTensor::from_gates(&pathspace::HardGating.gates(m, x)?);
        let half = RankOneTensor::new(
            m.widths()
                .iter()
                .map(|&d| Array1::from_elem(d + 1, 0.5))
                .collect(),
        )?;
        LowRankTensor::new(vec![g, half])
    };
    let mut rng = pathspace::mlp::SplitMix64::new(2);
    for _ in 0..20 {
        let x = rng.matrix(1, 3, 2.0).row(0).to_owned();
        let low = field_value(&mlp, 1, &field, x.view()).unwrap();
        let dense = dense_field_value(
            &mlp,
            1,
            |x| Ok(field(&mlp, x)?.to_dense()),
            x.view(),
            DEFAULT_PATH_LIMIT,
        )
        .unwrap();
        assert!(
            (low - dense).abs() <= 1e-12 * (1.0 + low.abs()),
            "{low} vs {dense}"
        );
    }
}

/// A path with the wrong number of indices is a broken precondition (it used to drop the
/// missing layers from the product silently).
#[test]
#[should_panic(expected = "one index per factor")]
fn short_path_entry_panics() {
    let t = pathspace::RankOneTensor::new(vec![ndarray::Array1::ones(2), ndarray::Array1::ones(3)])
        .unwrap();
    let _ = t.entry(&[0]);
}

#[test]
#[should_panic(expected = "one index per layer")]
fn short_path_activity_panics() {
    let gates =
        pathspace::Gates::new(vec![ndarray::Array1::ones(2), ndarray::Array1::ones(3)]).unwrap();
    let _ = pathspace::atoms::path_activity(&gates, &[0]);
}
