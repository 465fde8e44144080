//! Item 6: the path space (Eq. 16–19) and its size against the parameter count.

use ndarray::Array1;
use pathspace::path_space::{feature_map, omega, path_space_inner, path_space_size};
use pathspace::path_tensor::{induced_value, low_rank_pullback};
use pathspace::testing::{arb_class, arb_mlp_with_inputs, atom_mass};
use pathspace::{Gating, HardGating, LowRankTensor, Mlp, RankOneTensor};
use proptest::prelude::*;

proptest! {
    #![proptest_config(pathspace::testing::config(64, "path_space"))]

    /// Eq. 18–19: f_τ(x) = ⟨φ_τ(x), ω⟩ = ⟨v_τ(x), x̃⟩, where ω = Ω(ỹ, θ) and φ_τ = τ ⊗ x̃ are
    /// materialised entry by entry. For τ = G̃(x) this is the network's logit f(x).
    #[test]
    fn path_space_linear_model((mlp, xs) in arb_mlp_with_inputs(2), class in arb_class(), extra in prop::collection::vec(0.0f64..1.0, 64)) {
        let x = xs.row(0);
        let w = omega(&mlp, class, 5_000_000).unwrap();
        let scale = 1e-13 * (1.0 + atom_mass(&mlp, class)) * (1.0 + x.iter().map(|v| v.abs()).sum::<f64>());
        // τ = G̃(x)
        let g = RankOneTensor::from_gates(&HardGating.gates(&mlp, x).unwrap());
        let f_path = path_space_inner(&feature_map(&g.to_dense(), x), &w).unwrap();
        prop_assert!((f_path - mlp.logits(x).unwrap()[class]).abs() <= scale);
        // a rank-2 τ with arbitrary entries, including the constant neurons
        let mut it = extra.into_iter().cycle();
        let terms = (0..2).map(|_| RankOneTensor::new(mlp.widths().iter().map(|&d| Array1::from_shape_simple_fn(d + 1, || it.next().unwrap())).collect()).unwrap()).collect();
        let tau = LowRankTensor::new(terms).unwrap();
        let via_pullback = induced_value(low_rank_pullback(&mlp, class, &tau).unwrap().view(), x).unwrap();
        let via_path_space = path_space_inner(&feature_map(&tau.to_dense(), x), &w).unwrap();
        prop_assert!((via_pullback - via_path_space).abs() <= 2.0 * scale);
        // axes (p_0, p_1, …, p_L)
        prop_assert_eq!(w.shape(), &mlp.dims().iter().map(|d| d + 1).collect::<Vec<_>>()[..]);
    }

    /// |𝒫₀| = Π d_ℓ and the parameter count Σ d_ℓ(d_{ℓ-1}+1) + C(d_L+1).
    #[test]
    fn path_space_size_counts((mlp, _xs) in arb_mlp_with_inputs(1)) {
        let size = path_space_size(&mlp);
        let dims = mlp.dims();
        prop_assert_eq!(size.paths, dims.iter().map(|&d| d as u128).product::<u128>());
        prop_assert_eq!(size.augmented_paths, dims.iter().map(|&d| d as u128 + 1).product::<u128>());
        let params: usize = dims.windows(2).map(|w| w[1] * (w[0] + 1)).sum::<usize>() + mlp.num_classes() * (dims[dims.len() - 1] + 1);
        prop_assert_eq!(size.parameters, params);
        prop_assert!((10f64.powf(size.log10_paths) - size.paths as f64).abs() <= 1e-9 * size.paths as f64);
    }
}

/// The paper's remark: the path space grows multiplicatively with depth, the parameters
/// additively, so deep networks are under-parameterised in path space.
#[test]
fn path_space_outgrows_parameters_with_depth() {
    let mut last = 0.0;
    for depth in 1..=6 {
        let dims: Vec<usize> = std::iter::once(64)
            .chain(std::iter::repeat_n(64, depth))
            .collect();
        let mlp = Mlp::random(&dims, 10, 3).unwrap();
        let ratio = path_space_size(&mlp).paths_per_parameter();
        assert!(
            ratio > last * 10.0,
            "depth {depth}: ratio {ratio} after {last}"
        );
        if depth >= 2 {
            assert!(ratio > 1.0);
        }
        last = ratio;
    }
    let mlp = Mlp::random(&[784, 512, 512, 512, 10], 10, 3).unwrap();
    let size = path_space_size(&mlp);
    assert_eq!(size.paths, 784u128 * 512 * 512 * 512 * 10);
    assert!(size.paths_per_parameter() > 1e5, "{size:?}");
}
