//! Item 9: the product kernel (Eq. 23) against explicit path-space inner products, and its
//! Gram matrix (matrix products): symmetric, positive semi-definite.

use ndarray::{Array2, Axis};
use pathspace::kernel::{gram_from_factors, gram_matrix, log_gram_matrix, product_kernel, smallest_eigenvalue};
use pathspace::path_space::{feature_map, path_space_inner};
use pathspace::testing::{arb_mlp_with_inputs, gating_of_kind};
use pathspace::{Gating, Mlp, RankOneTensor};
use proptest::prelude::*;

proptest! {
    #![proptest_config(pathspace::testing::config(64, "kernel"))]

    /// K_Λ(x, x') = ⟨φ_Λ(x), φ_Λ(x')⟩ with φ_Λ(x) = Λ̃(x) ⊗ x̃ materialised over all paths.
    #[test]
    fn kernel_is_path_space_inner_product((mlp, xs) in arb_mlp_with_inputs(3), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(2));
        let phi = |x: ndarray::ArrayView1<f64>| feature_map(&RankOneTensor::from_gates(&gating.gates(&mlp, x).unwrap()).to_dense(), x);
        let (a, b) = (xs.row(0), xs.row(1));
        let explicit = path_space_inner(&phi(a), &phi(b)).unwrap();
        let k = product_kernel(&mlp, &gating, a, b).unwrap();
        prop_assert!((k - explicit).abs() <= 1e-12 * (1.0 + explicit.abs() + path_space_inner(&phi(a), &phi(a)).unwrap()));
    }

    /// The Gram matrix equals the pairwise kernel, is symmetric and positive semi-definite;
    /// the log-space Gram matrix agrees with it.
    #[test]
    fn gram_matrix_is_symmetric_psd((mlp, xs) in arb_mlp_with_inputs(9), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(0));
        let k = gram_matrix(&mlp, &gating, xs.view()).unwrap();
        let n = xs.nrows();
        let trace: f64 = (0..n).map(|i| k[[i, i]]).sum();
        for i in 0..n {
            for j in 0..n {
                let kij = product_kernel(&mlp, &gating, xs.row(i), xs.row(j)).unwrap();
                prop_assert!((k[[i, j]] - kij).abs() <= 1e-12 * (1.0 + trace));
                prop_assert_eq!(k[[i, j]], k[[j, i]]);
            }
        }
        let lambda_min = smallest_eigenvalue(k.view()).unwrap();
        prop_assert!(lambda_min >= -1e-10 * (1.0 + trace), "λ_min = {lambda_min}, trace {trace}");
        let (log, sign) = log_gram_matrix(&mlp, &gating, xs.view()).unwrap();
        let back = &log.mapv(f64::exp) * &sign;
        for (a, b) in back.iter().zip(k.iter()) {
            prop_assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()));
        }
    }
}

/// The blocked, threaded Gram computation (N > one block) equals the plain matrix formula.
#[test]
fn blocked_gram_matches_plain_products() {
    let mlp = Mlp::random(&[5, 7, 6], 3, 11).unwrap();
    let mut rng = pathspace::mlp::SplitMix64::new(3);
    let xs = rng.matrix(700, 5, 2.0);
    let gating = pathspace::Excitation::paper_default();
    let gates = gating.gates_batch(&mlp, xs.view()).unwrap();
    let views: Vec<_> = gates.iter().map(|g| g.view()).collect();
    let k = gram_from_factors(xs.view(), &views).unwrap();
    let mut plain: Array2<f64> = xs.dot(&xs.t()) + 1.0;
    for g in &gates {
        plain = &plain * &(g.dot(&g.t()) + 1.0);
    }
    let err = (&k - &plain).mapv(f64::abs).fold(0.0f64, |a, &b| a.max(b));
    assert!(err <= 1e-12 * plain.mapv(f64::abs).fold(0.0f64, |a, &b| a.max(b)), "{err}");
    assert_eq!(k.len_of(Axis(0)), 700);
    let bad = Array2::zeros((3, 3));
    assert!(gram_from_factors(xs.view(), &[bad.view()]).is_err());
}
