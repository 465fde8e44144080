//! Item 8: limits of the excitation gating.
//!
//! T → 0: Γ → G away from z = 0, with max|γ − g| ≤ σ(−m/T) (m = min |z|), so
//! ‖v_Γ − v_G‖_∞ ≤ L · σ(−m/T) · Σ_p ‖a_p‖₁ (telescoping |Π γ − Π g| ≤ L max|γ − g|).
//! T → ∞: Γ → ½, with |γ − ½| ≤ c_σ max|z| / T (c_σ = max σ' : ¼, 1/√(2π), ½), so v_Γ
//! tends to the pullback of the gate-½ linear network, itself checked against the explicit
//! path sum with Λ^p = 2^{−(number of real neurons on p)}.

use pathspace::atoms::{path_sum, DEFAULT_PATH_LIMIT};
use pathspace::pullback::pullback;
use pathspace::testing::{arb_class, arb_mlp_with_inputs, atom_mass, max_abs_diff};
use pathspace::{ConstantGating, Excitation, Gating, HardGating, Sigma, Temperature};
use proptest::prelude::*;

fn slope(sigma: Sigma) -> f64 {
    match sigma {
        Sigma::Sigmoid => 0.25,
        Sigma::NormalCdf => 1.0 / (2.0 * std::f64::consts::PI).sqrt(),
        Sigma::Softsign => 0.5,
    }
}

proptest! {
    #![proptest_config(pathspace::testing::config(64, "limits"))]

    #[test]
    fn zero_temperature_limit_is_hard_gating((mlp, xs) in arb_mlp_with_inputs(1), class in arb_class(), s in 0usize..3) {
        let sigma = Sigma::ALL[s];
        let x = xs.row(0);
        let z = mlp.pre_activations(x).unwrap();
        let m = z.iter().flat_map(|z| z.iter()).map(|v| v.abs()).fold(f64::INFINITY, f64::min);
        prop_assume!(m > 1e-6);
        let g = HardGating.gates(&mlp, x).unwrap();
        let v_g = pullback(&mlp, &HardGating, class, x).unwrap();
        let mass = atom_mass(&mlp, class);
        let mut last_bound = f64::INFINITY;
        for k in 0..12 {
            let t = m * 10f64.powi(-k);
            let gamma = Excitation::new(sigma, Temperature::Global(t)).unwrap();
            let gates = gamma.gates(&mlp, x).unwrap();
            let bound = sigma.apply(-m / t);
            prop_assert!(bound <= last_bound);
            last_bound = bound;
            for l in 1..=mlp.depth() {
                prop_assert!(max_abs_diff(gates.layer(l).view(), g.layer(l).view()) <= bound * (1.0 + 1e-12) + 2.0 * f64::EPSILON, "T = {t}");
            }
            let v = pullback(&mlp, &gamma, class, x).unwrap();
            let err = max_abs_diff(v.view(), v_g.view());
            prop_assert!(err <= mlp.depth() as f64 * bound * mass + 1e-13 * (1.0 + mass), "T = {t}: {err}");
        }
        prop_assert!(last_bound < 1e-5);
    }

    #[test]
    fn infinite_temperature_limit_is_the_half_gated_linear_network((mlp, xs) in arb_mlp_with_inputs(1), class in arb_class(), s in 0usize..3) {
        let sigma = Sigma::ALL[s];
        let x = xs.row(0);
        let z = mlp.pre_activations(x).unwrap();
        let zmax = z.iter().flat_map(|z| z.iter()).map(|v| v.abs()).fold(0.0, f64::max);
        let v_half = pullback(&mlp, &ConstantGating(0.5), class, x).unwrap();
        // independent: Λ^p = ½^(number of real neurons on p), constant neurons ungated
        let widths = mlp.widths();
        let reference = path_sum(&mlp, class, |p| {
            p.iter().zip(&widths).map(|(&i, &d)| if i == d { 1.0 } else { 0.5 }).product()
        }, DEFAULT_PATH_LIMIT).unwrap();
        let mass = atom_mass(&mlp, class);
        prop_assert!(max_abs_diff(v_half.view(), reference.view()) <= 1e-13 * (1.0 + mass));
        for k in 0..12 {
            let t = (1.0 + zmax) * 10f64.powi(k);
            let gamma = Excitation::new(sigma, Temperature::Global(t)).unwrap();
            let delta = slope(sigma) * zmax / t;
            let gates = gamma.gates(&mlp, x).unwrap();
            for l in 1..=mlp.depth() {
                prop_assert!(gates.layer(l).iter().all(|&g| (g - 0.5).abs() <= delta * (1.0 + 1e-9) + 1e-16));
            }
            let v = pullback(&mlp, &gamma, class, x).unwrap();
            let err = max_abs_diff(v.view(), v_half.view());
            prop_assert!(err <= mlp.depth() as f64 * delta * mass + 1e-13 * (1.0 + mass), "T = {t}: {err}");
        }
    }
}
