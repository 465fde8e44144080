//! The worked example of docs/theory.md: a 2-2-2 network with two classes, numbers derived
//! by hand in the document and checked here.

use ndarray::{arr1, arr2};
use pathspace::atoms::{path_sum_pullback, DEFAULT_PATH_LIMIT};
use pathspace::induced::matrix_field;
use pathspace::pullback::pullback;
use pathspace::{augment, Excitation, Gating, HardGating, Mlp, Sigma};

fn net() -> Mlp {
    Mlp::new(
        vec![
            arr2(&[[1.0, -1.0], [0.5, 2.0]]),
            arr2(&[[1.0, 1.0], [-1.0, 0.5]]),
        ],
        vec![arr1(&[0.5, -1.0]), arr1(&[-0.25, 0.5])],
        arr2(&[[1.0, -1.0], [0.5, 1.0]]),
        arr1(&[0.1, -0.2]),
    )
    .unwrap()
}

#[test]
fn hand_derived_numbers() {
    let mlp = net();
    let x = arr1(&[1.0, 0.5]);
    let fwd = mlp.forward(x.view()).unwrap();
    assert_eq!(fwd.pre_activations[0], arr1(&[1.0, 0.5]));
    assert_eq!(fwd.pre_activations[1], arr1(&[1.25, -0.25]));
    assert_eq!(fwd.logits, arr1(&[1.35, 0.425]));
    let g = HardGating.gates(&mlp, x.view()).unwrap();
    assert_eq!(g.layer(1), &arr1(&[1.0, 1.0]));
    assert_eq!(g.layer(2), &arr1(&[1.0, 0.0]));
    let v = pullback(&mlp, &HardGating, 0, x.view()).unwrap();
    assert_eq!(v, arr1(&[1.5, 1.0, -0.65]));
    assert!((v.dot(&augment(x.view())) - 1.35).abs() < 1e-15);
    let m = matrix_field(&mlp, &g).unwrap();
    let expected = arr2(&[[1.5, 1.0, -0.75], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]);
    assert!(
        m.iter()
            .zip(expected.iter())
            .all(|(a, b)| (a - b).abs() < 1e-15),
        "{m}"
    );
    assert_eq!(
        path_sum_pullback(&mlp, &g, 0, DEFAULT_PATH_LIMIT).unwrap(),
        arr1(&[1.5, 1.0, -0.65])
    );
}

#[test]
fn excitation_pullback_by_explicit_expansion() {
    // v_Γ = Σ_{i,j} y[i] γ_2[i] W_2[i,j] γ_1[j] W̃_1[j] + Σ_i y[i] γ_2[i] b_2[i] e + b^y e.
    let mlp = net();
    let x = arr1(&[1.0, 0.5]);
    let s = |z: f64| 1.0 / (1.0 + (-z / 0.3).exp());
    let g1 = [s(1.0), s(0.5)];
    let g2 = [s(1.25), s(-0.25)];
    let (w1, b1) = ([[1.0, -1.0], [0.5, 2.0]], [0.5, -1.0]);
    let (w2, b2) = ([[1.0, 1.0], [-1.0, 0.5]], [-0.25, 0.5]);
    let y = [1.0, -1.0];
    let mut v = [0.0; 3];
    for i in 0..2 {
        for j in 0..2 {
            let c = y[i] * g2[i] * w2[i][j] * g1[j];
            v[0] += c * w1[j][0];
            v[1] += c * w1[j][1];
            v[2] += c * b1[j];
        }
        v[2] += y[i] * g2[i] * b2[i];
    }
    v[2] += 0.1;
    let ours = pullback(
        &mlp,
        &Excitation::new(Sigma::Sigmoid, pathspace::Temperature::Global(0.3)).unwrap(),
        0,
        x.view(),
    )
    .unwrap();
    for k in 0..3 {
        assert!((ours[k] - v[k]).abs() < 1e-15, "{ours} vs {v:?}");
    }
    // the values quoted in docs/theory.md (6 decimals)
    let quoted = [1.593761, 0.158446, -0.376877];
    for k in 0..3 {
        assert!((ours[k] - quoted[k]).abs() < 5e-7);
    }
}
