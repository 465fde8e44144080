//! Item 9: the product kernel (Eq. 23) against explicit path-space inner products, and its
//! Gram matrix (matrix products): symmetric, positive semi-definite.

use approx::relative_eq;
use ndarray::{Array2, Axis};
use pathspace::kernel::{
    gram_from_factors, gram_matrix, log_gram_matrix, product_kernel, smallest_eigenvalue,
};
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
        // Standard summation bound: the explicit sum of n = |𝒫̃₀| = Π (d_ℓ + 1) products
        // (L + 2 factors each) errs by at most (n + L + 2) u Σ_p |φ_p φ'_p|, and
        // Σ_p |φ_p φ'_p| ≤ ‖φ‖ ‖φ'‖ (Cauchy–Schwarz); the product formula errs far less.
        let norms = (path_space_inner(&phi(a), &phi(a)).unwrap() * path_space_inner(&phi(b), &phi(b)).unwrap()).sqrt();
        let terms: f64 = mlp.dims().iter().map(|&d| (d + 1) as f64).product();
        let eps = (terms + mlp.depth() as f64 + 2.0) * f64::EPSILON * (1.0 + norms);
        prop_assert!(relative_eq!(k, explicit, epsilon = eps, max_relative = 1e-13),
            "K = {k}, ⟨φ, φ'⟩ = {explicit}");
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
    assert!(
        err <= 1e-12 * plain.mapv(f64::abs).fold(0.0f64, |a, &b| a.max(b)),
        "{err}"
    );
    assert_eq!(k.len_of(Axis(0)), 700);
    let bad = Array2::zeros((3, 3));
    assert!(gram_from_factors(xs.view(), &[bad.view()]).is_err());
}

/// smallest_eigenvalue used to return 1.0 for a matrix with NaN entries, and read only one
/// triangle of a non-symmetric matrix; both are now errors naming the entry.
#[test]
fn smallest_eigenvalue_rejects_nan_and_asymmetric_matrices() {
    let mut k = Array2::<f64>::eye(3);
    k[[0, 1]] = f64::NAN;
    k[[1, 0]] = f64::NAN;
    let msg = smallest_eigenvalue(k.view()).unwrap_err().to_string();
    assert!(
        msg.contains("(0, 1)") && msg.contains("not finite"),
        "{msg}"
    );
    let mut k = Array2::<f64>::eye(3);
    k[[0, 2]] = 0.5;
    let msg = smallest_eigenvalue(k.view()).unwrap_err().to_string();
    assert!(
        msg.contains("not symmetric") && msg.contains("(0, 2)"),
        "{msg}"
    );
    k[[2, 0]] = 0.5;
    // eigenvalues of [[1, 0, ½], [0, 1, 0], [½, 0, 1]] are ½, 1, 3/2
    assert!((smallest_eigenvalue(k.view()).unwrap() - 0.5).abs() < 1e-14);
}
