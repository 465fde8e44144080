//! Item 12: loading an `nn.Sequential` Linear/ReLU state_dict from safetensors, with clear
//! errors; parity with PyTorch (logits, autograd gradients, the authors' TwoWayReLU
//! backward) on fixtures written by `tests/fixtures/make_torch_mlp.py`.

use ndarray::{Array1, Array2, Array3};
use pathspace::pullback::{input_gradient, pullback};
use pathspace::{Error, Excitation, Mlp};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/torch_mlp.safetensors"
);
const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/torch_mlp_reference.safetensors"
);

fn f64s(st: &SafeTensors<'_>, key: &str) -> (Vec<usize>, Vec<f64>) {
    let t = st.tensor(key).unwrap();
    assert_eq!(t.dtype(), Dtype::F64);
    let v = t
        .data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (t.shape().to_vec(), v)
}

#[test]
fn pytorch_parity_logits_gradients_and_excitation_pullbacks() {
    let mlp = Mlp::from_safetensors_file(FIXTURE).unwrap();
    assert_eq!(mlp.dims(), vec![4, 6, 5]);
    assert_eq!(mlp.num_classes(), 3);
    let bytes = std::fs::read(REFERENCE).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (xs_shape, xs) = f64s(&st, "x");
    let xs = Array2::from_shape_vec((xs_shape[0], xs_shape[1]), xs).unwrap();
    let (_, logits) = f64s(&st, "logits");
    let logits = Array2::from_shape_vec((xs.nrows(), 3), logits).unwrap();
    let (_, grad) = f64s(&st, "gradient");
    let grad = Array3::from_shape_vec((xs.nrows(), 3, 4), grad).unwrap();
    let (_, exc) = f64s(&st, "excitation");
    let exc = Array3::from_shape_vec((xs.nrows(), 3, 4), exc).unwrap();
    let gamma = Excitation::paper_default();
    for (n, x) in xs.outer_iter().enumerate() {
        let ours = mlp.logits(x).unwrap();
        for c in 0..3 {
            assert!((ours[c] - logits[[n, c]]).abs() < 1e-12, "logit {n},{c}");
            let g = input_gradient(&mlp, c, x).unwrap();
            let v = pullback(&mlp, &gamma, c, x).unwrap();
            for j in 0..4 {
                assert!(
                    (g[j] - grad[[n, c, j]]).abs() < 1e-12,
                    "gradient {n},{c},{j}: {} vs {}",
                    g[j],
                    grad[[n, c, j]]
                );
                assert!(
                    (v[j] - exc[[n, c, j]]).abs() < 1e-12,
                    "excitation {n},{c},{j}: {} vs {}",
                    v[j],
                    exc[[n, c, j]]
                );
            }
        }
    }
}

#[test]
fn round_trip_through_safetensors() {
    let mlp = Mlp::random(&[3, 5, 4, 2], 4, 9).unwrap();
    let bytes = mlp.to_safetensors_bytes().unwrap();
    let back = Mlp::from_safetensors_bytes(&bytes).unwrap();
    assert_eq!(back, mlp);
}

fn serialize(entries: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = entries
        .iter()
        .map(|(k, d, s, b)| (k.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn f32_bytes(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (0.1f32 * i as f32 - 0.3).to_le_bytes())
        .collect()
}

#[test]
fn f32_state_dicts_load_exactly() {
    let bytes = serialize(&[
        ("0.weight", Dtype::F32, vec![3, 2], f32_bytes(6)),
        ("0.bias", Dtype::F32, vec![3], f32_bytes(3)),
        ("2.weight", Dtype::F32, vec![2, 3], f32_bytes(6)),
        ("2.bias", Dtype::F32, vec![2], f32_bytes(2)),
    ]);
    let mlp = Mlp::from_safetensors_bytes(&bytes).unwrap();
    assert_eq!(mlp.weight(1)[[1, 0]], (0.1f32 * 2.0 - 0.3) as f64);
    assert_eq!(
        mlp.head_bias(),
        &Array1::from_vec(vec![-0.3f32 as f64, (0.1f32 - 0.3) as f64])
    );
}

#[test]
fn bad_state_dicts_are_clear_errors() {
    let missing_bias = serialize(&[
        ("0.weight", Dtype::F32, vec![3, 2], f32_bytes(6)),
        ("0.bias", Dtype::F32, vec![3], f32_bytes(3)),
        ("2.weight", Dtype::F32, vec![2, 3], f32_bytes(6)),
    ]);
    let err = Mlp::from_safetensors_bytes(&missing_bias).unwrap_err();
    assert!(
        matches!(&err, Error::MissingKey { key, .. } if key == "2.bias"),
        "{err}"
    );
    assert!(err.to_string().contains("`2.bias`"));

    let wrong_shape = serialize(&[
        ("0.weight", Dtype::F32, vec![3, 2], f32_bytes(6)),
        ("0.bias", Dtype::F32, vec![3], f32_bytes(3)),
        ("2.weight", Dtype::F32, vec![2, 4], f32_bytes(8)),
        ("2.bias", Dtype::F32, vec![2], f32_bytes(2)),
    ]);
    let err = Mlp::from_safetensors_bytes(&wrong_shape).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::WrongShape { .. })
            && msg.contains("`2.weight`")
            && msg.contains("[2, 4]")
            && msg.contains("[2, 3]"),
        "{msg}"
    );

    let wrong_bias = serialize(&[
        ("0.weight", Dtype::F32, vec![3, 2], f32_bytes(6)),
        ("0.bias", Dtype::F32, vec![2], f32_bytes(2)),
        ("2.weight", Dtype::F32, vec![2, 3], f32_bytes(6)),
        ("2.bias", Dtype::F32, vec![2], f32_bytes(2)),
    ]);
    let msg = Mlp::from_safetensors_bytes(&wrong_bias)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`0.bias`") && msg.contains("[2]") && msg.contains("[3]"),
        "{msg}"
    );

    let wrong_dtype = serialize(&[
        ("0.weight", Dtype::I32, vec![3, 2], vec![0u8; 24]),
        ("0.bias", Dtype::F32, vec![3], f32_bytes(3)),
        ("2.weight", Dtype::F32, vec![2, 3], f32_bytes(6)),
        ("2.bias", Dtype::F32, vec![2], f32_bytes(2)),
    ]);
    let err = Mlp::from_safetensors_bytes(&wrong_dtype).unwrap_err();
    assert!(
        matches!(&err, Error::WrongDtype { key, .. } if key == "0.weight"),
        "{err}"
    );

    // a Linear whose weight is missing must not be skipped (that would drop a layer)
    let missing_weight = serialize(&[
        ("0.bias", Dtype::F32, vec![3], f32_bytes(3)),
        ("2.weight", Dtype::F32, vec![2, 3], f32_bytes(6)),
        ("2.bias", Dtype::F32, vec![2], f32_bytes(2)),
        ("4.weight", Dtype::F32, vec![2, 2], f32_bytes(4)),
        ("4.bias", Dtype::F32, vec![2], f32_bytes(2)),
    ]);
    let err = Mlp::from_safetensors_bytes(&missing_weight).unwrap_err();
    assert!(
        matches!(&err, Error::MissingKey { key, .. } if key == "0.weight"),
        "{err}"
    );

    let one_layer = serialize(&[
        ("0.weight", Dtype::F32, vec![3, 2], f32_bytes(6)),
        ("0.bias", Dtype::F32, vec![3], f32_bytes(3)),
    ]);
    assert!(matches!(
        Mlp::from_safetensors_bytes(&one_layer),
        Err(Error::MissingKey { .. })
    ));

    let batch_norm = serialize(&[
        ("0.weight", Dtype::F32, vec![3, 2], f32_bytes(6)),
        ("0.bias", Dtype::F32, vec![3], f32_bytes(3)),
        ("1.running_mean", Dtype::F32, vec![3], f32_bytes(3)),
        ("2.weight", Dtype::F32, vec![2, 3], f32_bytes(6)),
        ("2.bias", Dtype::F32, vec![2], f32_bytes(2)),
    ]);
    let msg = Mlp::from_safetensors_bytes(&batch_norm)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`1.running_mean`"), "{msg}");

    assert!(matches!(
        Mlp::from_safetensors_bytes(b"not a safetensors file"),
        Err(Error::Safetensors(_))
    ));
    let msg = Mlp::from_safetensors_file("/nonexistent/model.safetensors")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/nonexistent/model.safetensors"), "{msg}");
}
