//! Proptest strategies for random small MLPs, shared by this crate's tests and downstream
//! crates (feature `testing`).
//!
//! Networks have depth 1–4, input dimension 1–5, hidden widths 1–6 and 2–4 classes.
//! Weights are uniform in ±1.5; every bias (hidden and head) is non-zero, with magnitude in
//! [0.05, 1): the augmented convention is exercised by every test.

use ndarray::{Array1, Array2};
use proptest::prelude::*;

use crate::mlp::Mlp;

/// A non-zero value with magnitude in [0.05, 1) and random sign.
pub fn nonzero() -> impl Strategy<Value = f64> {
    (0.05f64..1.0, any::<bool>()).prop_map(|(m, s)| if s { m } else { -m })
}

/// An MLP with the given dims and classes and random parameters (all biases non-zero).
pub fn mlp_with_dims(dims: Vec<usize>, classes: usize) -> impl Strategy<Value = Mlp> {
    let nw: usize =
        dims.windows(2).map(|w| w[0] * w[1]).sum::<usize>() + classes * dims[dims.len() - 1];
    let nb: usize = dims[1..].iter().sum::<usize>() + classes;
    (
        prop::collection::vec(-1.5f64..1.5, nw),
        prop::collection::vec(nonzero(), nb),
    )
        .prop_map(move |(w, b)| {
            let mut wi = w.into_iter();
            let mut bi = b.into_iter();
            let mut weights = Vec::new();
            let mut biases = Vec::new();
            for pair in dims.windows(2) {
                weights.push(Array2::from_shape_simple_fn((pair[1], pair[0]), || {
                    wi.next().expect("enough")
                }));
                biases.push(Array1::from_shape_simple_fn(pair[1], || {
                    bi.next().expect("enough")
                }));
            }
            let dl = dims[dims.len() - 1];
            let head = Array2::from_shape_simple_fn((classes, dl), || wi.next().expect("enough"));
            let head_bias = Array1::from_shape_simple_fn(classes, || bi.next().expect("enough"));
            Mlp::new(weights, biases, head, head_bias).expect("valid by construction")
        })
}

/// A random MLP: depth 1–4, d_0 ∈ 1..=5, widths 1–6, 2–4 classes, non-zero biases.
pub fn arb_mlp() -> impl Strategy<Value = Mlp> {
    (
        1usize..=5,
        prop::collection::vec(1usize..=6, 1..=4),
        2usize..=4,
    )
        .prop_flat_map(|(d0, widths, classes)| {
            let dims: Vec<usize> = std::iter::once(d0).chain(widths).collect();
            mlp_with_dims(dims, classes)
        })
}

/// `n` random inputs (rows) with entries uniform in ±2.
pub fn inputs(d0: usize, n: usize) -> impl Strategy<Value = Array2<f64>> {
    prop::collection::vec(-2.0f64..2.0, n * d0)
        .prop_map(move |v| Array2::from_shape_vec((n, d0), v).expect("size"))
}

/// A random MLP with `n` random inputs.
pub fn arb_mlp_with_inputs(n: usize) -> impl Strategy<Value = (Mlp, Array2<f64>)> {
    arb_mlp().prop_flat_map(move |m| {
        let d0 = m.input_dim();
        (Just(m), inputs(d0, n))
    })
}

/// Two random MLPs with the same widths (two "checkpoints") and `n` inputs.
pub fn arb_mlp_pair_with_inputs(n: usize) -> impl Strategy<Value = (Mlp, Mlp, Array2<f64>)> {
    (
        1usize..=5,
        prop::collection::vec(1usize..=6, 1..=4),
        2usize..=4,
    )
        .prop_flat_map(move |(d0, widths, classes)| {
            let dims: Vec<usize> = std::iter::once(d0).chain(widths).collect();
            (
                mlp_with_dims(dims.clone(), classes),
                mlp_with_dims(dims, classes),
                inputs(d0, n),
            )
        })
}

/// A class index valid for every generated network (C ≥ 2): 0 or 1.
pub fn arb_class() -> impl Strategy<Value = usize> {
    0usize..2
}

/// Tolerance for comparing two computations of a quantity of the given magnitude that
/// went through `ops` floating-point operations: 1e-12 · ops · max(1, magnitude).
pub fn tolerance(magnitude: f64, ops: usize) -> f64 {
    1e-12 * ops.max(1) as f64 * magnitude.abs().max(1.0)
}

/// max_i |a_i − b_i| (∞ when the lengths differ).
pub fn max_abs_diff(a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// max_i |a_i| (0 for an empty vector).
pub fn max_abs(a: ndarray::ArrayView1<f64>) -> f64 {
    a.iter().map(|x| x.abs()).fold(0.0, f64::max)
}

/// Σ_p ‖a_p‖₁ over all augmented paths: a scale for errors of path-weighted sums, since
/// |Σ_p (τ_p − τ'_p) a_p| ≤ max_p |τ_p − τ'_p| · Σ_p ‖a_p‖.
pub fn atom_mass(mlp: &Mlp, class: usize) -> f64 {
    let net = crate::atoms::AugmentedNetwork::new(mlp);
    crate::atoms::paths(mlp, crate::atoms::DEFAULT_PATH_LIMIT)
        .expect("tiny network")
        .map(|p| net.atom(class, &p).iter().map(|v| v.abs()).sum::<f64>())
        .sum()
}

/// One gating of each kind for property tests, chosen by `kind` ∈ 0..5: hard, excitation
/// with σ = `Sigma::ALL[kind % 3]` at temperature `t`, per-neuron excitation, constant
/// gates, frozen gates at `x0`.
pub fn gating_of_kind(
    mlp: &Mlp,
    kind: usize,
    t: f64,
    x0: ndarray::ArrayView1<f64>,
) -> Box<dyn crate::gating::Gating + Sync> {
    use crate::gating::*;
    match kind % 5 {
        0 => Box::new(HardGating),
        1 => Box::new(
            Excitation::new(Sigma::ALL[(kind / 5) % 3], Temperature::Global(t)).expect("t > 0"),
        ),
        2 => {
            let per: Vec<Array1<f64>> = mlp
                .widths()
                .iter()
                .enumerate()
                .map(|(l, &d)| Array1::from_shape_fn(d, |i| t * (1.0 + 0.5 * ((l + i) % 3) as f64)))
                .collect();
            Box::new(
                Excitation::new(Sigma::ALL[(kind / 5) % 3], Temperature::PerNeuron(per))
                    .expect("t > 0"),
            )
        }
        3 => Box::new(ConstantGating(0.5 * t.min(2.0))),
        _ => {
            Box::new(FrozenGating::at(&Excitation::paper_default(), mlp, x0).expect("valid input"))
        }
    }
}

/// A proptest configuration with `cases` cases that persists failures in
/// `proptest-regressions/{name}.txt` (relative to the package root, where `cargo test`
/// runs integration tests), so that regressions are committed in one folder.
///
/// The generator is seeded (a fixed seed derived from `name`), so `cargo test` draws the
/// same cases on every run and machine. Set `PROPTEST_RNG_SEED=<u64>` to explore other
/// cases (e.g. `for s in $(seq 1 50); do PROPTEST_RNG_SEED=$s cargo test -p pathspace; done`).
pub fn config(cases: u32, name: &str) -> ProptestConfig {
    let path: &'static str = Box::leak(format!("proptest-regressions/{name}.txt").into_boxed_str());
    let defaults = ProptestConfig::default();
    let rng_seed = if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
        defaults.rng_seed
    } else {
        // FNV-1a of the name: stable across Rust versions, unlike `DefaultHasher`.
        let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
        proptest::test_runner::RngSeed::Fixed(seed)
    };
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(path),
        )),
        rng_seed,
        ..defaults
    }
}
