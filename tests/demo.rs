//! End to end: `curtain demo` runs with no data or download, writes its grids and numbers,
//! and ascent along either pullback raises the explained logit.

use std::process::Command;

#[test]
fn demo_writes_grids_and_ascent_raises_logits() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let status = Command::new(env!("CARGO_BIN_EXE_curtain"))
        .args(["demo", "--out"])
        .arg(&out)
        .args(["--steps", "3"])
        .output()
        .expect("run curtain demo");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        stdout.contains("pullbacks.png") && stdout.contains("ascent.png"),
        "{stdout}"
    );
    for f in ["pullbacks.png", "ascent.png"] {
        let bytes = std::fs::read(out.join(f)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{f} is not a PNG");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("demo.json")).unwrap()).unwrap();
    let get = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let before = get("logit_before");
    assert_eq!(before.len(), 8);
    for key in [
        "logit_after_gradient_ascent",
        "logit_after_excitation_ascent",
    ] {
        for (b, a) in before.iter().zip(get(key)) {
            assert!(a > *b, "{key}: {a} <= {b}");
        }
    }
    // The two pullbacks differ but point roughly the same way.
    for c in get("pullback_cosine_gradient_vs_excitation") {
        assert!(c > 0.0 && c < 0.9999, "cosine {c}");
    }
    // The built-in model classifies most of its eight images correctly.
    let right = get("labels")
        .iter()
        .zip(get("predictions"))
        .filter(|(l, p)| **l == *p)
        .count();
    assert!(right >= 6, "{right}/8 correct");

    // Bad input is an error, not a panic.
    let bad = Command::new(env!("CARGO_BIN_EXE_curtain"))
        .args(["demo", "--temperature", "-1"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("temperature"));
}
