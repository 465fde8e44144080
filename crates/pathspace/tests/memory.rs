//! Item 11: associative memory read-out (Sec. 5.4).

use pathspace::atoms::{path_sum_pullback, DEFAULT_PATH_LIMIT};
use pathspace::induced::induced_logits;
use pathspace::memory::{argmax, class_pullbacks, memory_agreement, memory_readout};
use pathspace::pullback::pullback;
use pathspace::testing::{arb_mlp_with_inputs, atom_mass, gating_of_kind, max_abs_diff};
use pathspace::{Gating, HardGating};
use proptest::prelude::*;

proptest! {
    #![proptest_config(pathspace::testing::config(64, "memory"))]

    /// Row c of the per-class pullbacks is v_(c,Λ) (single backward pass and explicit path sum).
    #[test]
    fn class_pullbacks_are_pullbacks((mlp, xs) in arb_mlp_with_inputs(2), kind in 0usize..15, t in 0.05f64..3.0) {
        let gating = gating_of_kind(&mlp, kind, t, xs.row(1));
        let x = xs.row(0);
        let v = class_pullbacks(&mlp, &gating, x).unwrap();
        prop_assert_eq!(v.nrows(), mlp.num_classes());
        let gates = gating.gates(&mlp, x).unwrap();
        for c in 0..mlp.num_classes() {
            let single = pullback(&mlp, &gating, c, x).unwrap();
            prop_assert!(max_abs_diff(v.row(c), single.view()) <= 1e-14 * (1.0 + atom_mass(&mlp, c)));
            let reference = path_sum_pullback(&mlp, &gates, c, DEFAULT_PATH_LIMIT).unwrap();
            prop_assert!(max_abs_diff(v.row(c), reference.view()) <= 1e-13 * (1.0 + atom_mass(&mlp, c)));
        }
    }

    /// With Λ = G the memory scores are the logits and the read-out is the network's
    /// prediction; with any Λ the scores are f_(c,Λ)(x) from the gated forward chain, and the
    /// agreement rate is the fraction of matching argmaxes.
    #[test]
    fn memory_readout_and_agreement((mlp, xs) in arb_mlp_with_inputs(12), kind in 0usize..15, t in 0.05f64..3.0) {
        for x in xs.outer_iter() {
            let hard = memory_readout(&mlp, &HardGating, x).unwrap();
            let logits = mlp.logits(x).unwrap();
            prop_assert!(max_abs_diff(hard.scores.view(), logits.view()) <= 1e-12 * (1.0 + logits.iter().map(|v| v.abs()).sum::<f64>()) * 100.0);
        }
        let gating = gating_of_kind(&mlp, kind, t, xs.row(0));
        let agreement = memory_agreement(&mlp, &gating, xs.view()).unwrap();
        let mut same = 0;
        for (n, x) in xs.outer_iter().enumerate() {
            let f = induced_logits(&mlp, &gating, x).unwrap();
            let r = memory_readout(&mlp, &gating, x).unwrap();
            prop_assert!(max_abs_diff(r.scores.view(), f.view()) <= 1e-12 * (1.0 + f.iter().map(|v| v.abs()).sum::<f64>()) * 100.0);
            prop_assert_eq!(agreement.readout[n], r.class);
            prop_assert_eq!(agreement.network[n], argmax(mlp.logits(x).unwrap().view()));
            if agreement.readout[n] == agreement.network[n] { same += 1; }
        }
        prop_assert!((agreement.rate - same as f64 / xs.nrows() as f64).abs() < 1e-15);
    }
}
