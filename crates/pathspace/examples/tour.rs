//! A tour of the core: every identity of Sections 2–5 evaluated on a small MLP, with the
//! two sides of each identity printed next to each other.
//!
//! ```text
//! cargo run -p pathspace --example tour
//! ```
//!
//! The first part uses the hand-made 2-2-2 network of the worked example in
//! `docs/theory.md`; later parts use a seeded random 4-6-6-5 network.

use ndarray::{arr1, arr2, Array1, Array2};
use pathspace::atoms::{path_activity, paths, AugmentedNetwork, DEFAULT_PATH_LIMIT};
use pathspace::induced::{induced_function, matrix_field};
use pathspace::kernel::{gram_matrix, product_kernel, smallest_eigenvalue};
use pathspace::memory::memory_agreement;
use pathspace::mlp::SplitMix64;
use pathspace::noise::{find_boundary, pullback_jump};
use pathspace::path_space::{feature_map, omega, path_space_inner, path_space_size};
use pathspace::path_tensor::{dense_pullback, low_rank_pullback};
use pathspace::pullback::{input_gradient, neuron_pullback, pullback, pullback_from_gates};
use pathspace::stability::{excitation_correlation, gate_agreement, induced_values, pearson};
use pathspace::{
    augment, CheckpointGating, ConstantGating, Excitation, GateTensorField, Gating, HardGating,
    LowRankTensor, Mlp, RankOneTensor, Sigma, Temperature,
};

fn check(label: &str, lhs: f64, rhs: f64, tol: f64) {
    let ok = (lhs - rhs).abs() <= tol;
    println!(
        "  {} {label}: {lhs:.12} vs {rhs:.12} (|diff| = {:.1e})",
        if ok { "ok  " } else { "FAIL" },
        (lhs - rhs).abs()
    );
    assert!(ok, "identity failed: {label}");
}

fn max_diff(a: &Array1<f64>, b: &Array1<f64>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// The worked example of docs/theory.md.
fn worked_example() -> pathspace::Result<Mlp> {
    Mlp::new(
        vec![
            arr2(&[[1.0, -1.0], [0.5, 2.0]]),
            arr2(&[[1.0, 1.0], [-1.0, 0.5]]),
        ],
        vec![arr1(&[0.5, -1.0]), arr1(&[-0.25, 0.5])],
        arr2(&[[1.0, -1.0], [0.5, 1.0]]),
        arr1(&[0.1, -0.2]),
    )
}

fn main() -> pathspace::Result<()> {
    let mlp = worked_example()?;
    let x = arr1(&[1.0, 0.5]);
    let xt = augment(x.view());
    println!("== Sec. 2.1–2.2: the network, Z(x), G(x) ==");
    let fwd = mlp.forward(x.view())?;
    println!("  x = {x}, x̃ = {xt}");
    for (l, z) in fwd.pre_activations.iter().enumerate() {
        println!("  z_{} = {z}", l + 1);
    }
    let g = HardGating.gates(&mlp, x.view())?;
    for l in 1..=mlp.depth() {
        println!("  g_{l} = {}", g.layer(l));
    }
    println!("  logits f(x) = {}", fwd.logits);
    println!("  W̃_1 =\n{}", mlp.augmented_weight(1));

    println!("\n== Eq. 5–7: matrix field, pullback, f_Λ(x) = ⟨v_Λ(x), x̃⟩ ==");
    let m = matrix_field(&mlp, &g)?;
    println!("  M⃗_G(x) =\n{m}");
    let v_g = pullback(&mlp, &HardGating, 0, x.view())?;
    println!("  v_G(x) (class 0) = {v_g}");
    check("f(x) = ⟨v_G(x), x̃⟩", fwd.logits[0], v_g.dot(&xt), 1e-12);
    let gamma = Excitation::paper_default();
    let v_gamma = pullback(&mlp, &gamma, 0, x.view())?;
    println!(
        "  Γ = sigmoid(z/0.3): γ_1 = {:.6}, γ_2 = {:.6}",
        gamma.gates(&mlp, x.view())?.layer(1),
        gamma.gates(&mlp, x.view())?.layer(2)
    );
    println!("  v_Γ(x) (class 0) = {v_gamma:.6}");
    check(
        "f_Γ(x) = ⟨v_Γ(x), x̃⟩",
        induced_function(&mlp, &gamma, 0, x.view())?,
        v_gamma.dot(&xt),
        1e-12,
    );

    println!(
        "\n== Eq. 8: ∇f(x) = v_G(x) on the true coordinates (central differences, h = 1e-6) =="
    );
    let grad = input_gradient(&mlp, 0, x.view())?;
    for j in 0..x.len() {
        let mut xp = x.clone();
        let mut xm = x.clone();
        xp[j] += 1e-6;
        xm[j] -= 1e-6;
        let fd = (mlp.logits(xp.view())?[0] - mlp.logits(xm.view())?[0]) / 2e-6;
        check(&format!("∂f/∂x[{j}]"), grad[j], fd, 1e-8);
    }

    println!("\n== Sec. 3.1: layer decomposition v = Σ_i y[i] λ_L[i] v|(L,i) + b^y e_const ==");
    let mut sum = Array1::zeros(3);
    for i in 0..2 {
        let vi = neuron_pullback(&mlp, &g, 2, i)?;
        println!("  v_G|(2,{i}) = {vi}");
        sum.scaled_add(mlp.head()[[0, i]] * g.layer(2)[i], &vi);
    }
    sum[2] += mlp.head_bias()[0];
    check("max |Σ − v_G|", max_diff(&sum, &v_g), 0.0, 1e-12);

    println!("\n== Eq. 10–11: atoms over the augmented paths 𝒫̃₁ (index 2 = constant neuron) ==");
    let net = AugmentedNetwork::new(&mlp);
    let mut path_sum = Array1::zeros(3);
    for p in paths(&mlp, DEFAULT_PATH_LIMIT)? {
        let activity = path_activity(&g, &p);
        let atom = net.atom(0, &p);
        println!("  p = {p:?}: Λ^p = {activity}, atom a_p = {atom}");
        path_sum.scaled_add(activity, &atom);
    }
    check(
        "max |Σ_p G^p a_p − v_G|",
        max_diff(&path_sum, &v_g),
        0.0,
        1e-12,
    );

    println!("\n== Eq. 14: a rank-2 tensor τ: 2 backward passes vs the dense path sum ==");
    let tau = LowRankTensor::new(vec![
        RankOneTensor::new(vec![arr1(&[0.9, 0.2, 1.0]), arr1(&[0.3, 0.7, 1.0])])?,
        RankOneTensor::new(vec![arr1(&[0.1, 0.5, 0.5]), arr1(&[1.0, 0.0, 0.25])])?,
    ])?;
    let v_tau = low_rank_pullback(&mlp, 0, &tau)?;
    let v_dense = dense_pullback(&mlp, 0, &tau.to_dense(), DEFAULT_PATH_LIMIT)?;
    println!("  v_τ = {v_tau}");
    check(
        "max |v_τ (backward) − v_τ (paths)|",
        max_diff(&v_tau, &v_dense),
        0.0,
        1e-12,
    );

    println!("\n== Eq. 16–19: path space ==");
    let size = path_space_size(&mlp);
    println!(
        "  |𝒫₀| = {} (augmented {}), parameters {}",
        size.paths, size.augmented_paths, size.parameters
    );
    let w = omega(&mlp, 0, DEFAULT_PATH_LIMIT)?;
    let phi = feature_map(&RankOneTensor::from_gates(&g).to_dense(), x.view());
    check(
        "f(x) = ⟨φ_G(x), ω⟩",
        fwd.logits[0],
        path_space_inner(&phi, &w)?,
        1e-12,
    );
    let big = Mlp::random(&[784, 512, 512, 512, 10], 10, 1)?;
    let s = path_space_size(&big);
    println!(
        "  784-512-512-512-10: |𝒫₀| = {:.3e} paths vs {} parameters ({:.1e} paths per parameter)",
        s.paths as f64,
        s.parameters,
        s.paths_per_parameter()
    );

    // A larger random network for the remaining parts.
    let mlp = Mlp::random(&[4, 6, 6, 5], 3, 2024)?;
    let mut rng = SplitMix64::new(5);

    println!(
        "\n== Eq. 20: the noise argument at a boundary between two linear regions (4-6-6-5) =="
    );
    let mut shown = false;
    for _ in 0..50 {
        let a = rng.matrix(1, 4, 2.0).row(0).to_owned();
        let b = rng.matrix(1, 4, 2.0).row(0).to_owned();
        let Some(crossing) = find_boundary(&mlp, a.view(), b.view())? else {
            continue;
        };
        if crossing.flipped.len() != 1 {
            continue;
        }
        let dir = &b - &a;
        let jump = pullback_jump(&mlp, 0, crossing.point.view(), dir.view(), 1e-9)?;
        if jump.difference.iter().all(|v| v.abs() < 1e-6) {
            continue;
        }
        println!(
            "  neuron (ℓ, i) = {:?} flips at x = {:.4}",
            crossing.flipped[0], crossing.point
        );
        println!(
            "  {:>8} {:>16} {:>16} {:>16}",
            "ε", "⟨Δv, x̃⟩", "max|Δv|", "f(x_a) − f(x_b)"
        );
        for k in 1..=9 {
            let eps = 10f64.powi(-k);
            let j = pullback_jump(&mlp, 0, crossing.point.view(), dir.view(), eps)?;
            let dmax = j.difference.iter().map(|v| v.abs()).fold(0.0, f64::max);
            println!(
                "  {eps:>8.0e} {:>16.3e} {dmax:>16.6} {:>16.3e}",
                j.inner_with_x, j.value_gap
            );
        }
        shown = true;
        break;
    }
    assert!(shown, "no single-neuron boundary found");

    println!("\n== Limits of Γ (sigmoid): T → 0 gives v_G, T → ∞ gives the gate-½ network ==");
    let x = rng.matrix(1, 4, 1.0).row(0).to_owned();
    let v_g = pullback(&mlp, &HardGating, 0, x.view())?;
    let v_half = pullback(&mlp, &ConstantGating(0.5), 0, x.view())?;
    println!(
        "  {:>8} {:>14} {:>14}",
        "T", "max|v_Γ − v_G|", "max|v_Γ − v_½|"
    );
    for k in -6..=6 {
        let t = 10f64.powi(k);
        let v = pullback(
            &mlp,
            &Excitation::new(Sigma::Sigmoid, Temperature::Global(t))?,
            0,
            x.view(),
        )?;
        println!(
            "  {t:>8.0e} {:>14.3e} {:>14.3e}",
            max_diff(&v, &v_g),
            max_diff(&v, &v_half)
        );
    }

    println!("\n== Eq. 23: product kernel K_Γ ==");
    let xs: Array2<f64> = rng.matrix(64, 4, 1.5);
    let k01 = product_kernel(&mlp, &gamma, xs.row(0), xs.row(1))?;
    let phi = |x: ndarray::ArrayView1<f64>| -> pathspace::Result<_> {
        Ok(feature_map(
            &RankOneTensor::from_gates(&gamma.gates(&mlp, x)?).to_dense(),
            x,
        ))
    };
    check(
        "K_Γ(x_0, x_1) = ⟨φ_Γ(x_0), φ_Γ(x_1)⟩",
        k01,
        path_space_inner(&phi(xs.row(0))?, &phi(xs.row(1))?)?,
        1e-9 * k01.abs(),
    );
    let gram = gram_matrix(&mlp, &gamma, xs.view())?;
    println!(
        "  Gram 64 × 64: smallest eigenvalue {:.3e}, largest entry {:.3e}",
        smallest_eigenvalue(gram.view())?,
        gram.iter().cloned().fold(0.0, f64::max)
    );

    println!("\n== Sec. 5.1: stability quantities ==");
    let other = Mlp::random(&[4, 6, 6, 5], 3, 2025)?;
    let agreement = gate_agreement(&mlp, &other, xs.view())?;
    println!(
        "  gate agreement with an unrelated checkpoint: overall {:.3}, per layer {:?}",
        agreement.overall, agreement.per_layer
    );
    let pi = CheckpointGating::new(&other, HardGating);
    let f_pi = induced_values(&mlp, &pi, 0, xs.view())?;
    let f = induced_values(&mlp, &HardGating, 0, xs.view())?;
    println!(
        "  ρ(f(X), f_π(X)) for π = G̃ of the other checkpoint: {:.4}",
        pearson(f.view(), f_pi.view())?
    );
    let own = GateTensorField(HardGating);
    println!(
        "  ρ(Γ̃(x), G̃(x)) at x_0 (from per-layer factors): {:.4}",
        excitation_correlation(&mlp, &gamma, &own, xs.row(0))?
    );

    println!("\n== Sec. 5.4: memory read-out argmax_c ⟨v_(c,Γ)(x), x̃⟩ ==");
    let hard = memory_agreement(&mlp, &HardGating, xs.view())?;
    let soft = memory_agreement(&mlp, &gamma, xs.view())?;
    println!(
        "  agreement with the network's prediction on 64 inputs: Λ = G {:.3}, Λ = Γ {:.3}",
        hard.rate, soft.rate
    );

    println!("\n== Import: safetensors round trip ==");
    let back = Mlp::from_safetensors_bytes(&mlp.to_safetensors_bytes()?)?;
    println!(
        "  {}",
        if back == mlp {
            "ok   identical network after export and import"
        } else {
            "FAIL"
        }
    );
    let v = pullback_from_gates(&back, &HardGating.gates(&back, x.view())?, 0)?;
    check("pullback after round trip", max_diff(&v, &v_g), 0.0, 0.0);
    Ok(())
}
