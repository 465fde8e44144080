//! End to end on tiny generated Fashion-MNIST files: `curtain train` (plain CNN and ResNet,
//! interrupted and resumed), `curtain stability measure`, `plot` and `explain`, and the
//! errors bad flags give.

use std::path::Path;
use std::process::{Command, Output};

use excitation::data::fetch::fixtures;

fn curtain(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curtain"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn ok(args: &[&str], cwd: &Path) -> String {
    let out = curtain(args, cwd);
    assert!(
        out.status.success(),
        "curtain {args:?} failed:\n{}",
        text(&out)
    );
    text(&out)
}

fn fails(args: &[&str], cwd: &Path) -> String {
    let out = curtain(args, cwd);
    assert!(
        !out.status.success(),
        "curtain {args:?} should fail:\n{}",
        text(&out)
    );
    text(&out)
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path)
        .map(|b| b.len() > 8 && &b[1..4] == b"PNG")
        .unwrap_or(false)
}

fn workdir() -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("fm")).unwrap();
    for (name, bytes) in fixtures::fashion_mnist(48, 16) {
        std::fs::write(work.path().join("fm").join(name), bytes).unwrap();
    }
    work
}

const TRAIN: [&str; 10] = [
    "train",
    "--data-dir",
    "fm",
    "--steps",
    "4",
    "--checkpoint-every",
    "2",
    "--batch-size",
    "8",
    "--eval-images=8",
];
const MEASURE: [&str; 14] = [
    "stability",
    "measure",
    "--data-dir",
    "fm",
    "--probe",
    "8",
    "--kernel-train",
    "8",
    "--kernel-test",
    "6",
    "--retrain-steps",
    "2",
    "--temperatures",
    "0.3",
];

#[test]
fn plain_cnn_train_resume_measure_plot_explain() {
    let work = workdir();
    let w = work.path();
    let train = |extra: &[&str]| -> String {
        let mut a: Vec<&str> = TRAIN.to_vec();
        a.extend_from_slice(extra);
        ok(&a, w)
    };
    // Interrupted after 2 steps, then resumed to the end.
    train(&["--run", "r", "--stop-at", "3"]);
    let out = train(&["--run", "r"]);
    assert!(
        out.contains("resumed from step 2") && out.contains("4 steps done"),
        "{out}"
    );
    for step in [0, 2, 4] {
        assert!(
            w.join(format!("r/checkpoints/step-{step:08}/model.bpk"))
                .is_file(),
            "step {step}"
        );
    }
    let mut m: Vec<&str> = MEASURE.to_vec();
    m.extend_from_slice(&["--run", "r", "--out", "n"]);
    ok(&m, w);
    for f in [
        "gate_agreement.csv",
        "induced.csv",
        "excitation_corr.csv",
        "kernel.csv",
        "frozen_retrain.csv",
        "summary.json",
    ] {
        assert!(w.join("n").join(f).is_file(), "{f}");
    }
    let induced = std::fs::read_to_string(w.join("n/induced.csv")).unwrap();
    // Diagonal (s = t): the checkpoint's own gates reproduce it, ρ = 1.
    assert!(
        induced.lines().any(|l| l.starts_with("4,4,1.000000")),
        "{induced}"
    );
    let out = ok(
        &[
            "stability",
            "plot",
            "--variant",
            "a=n",
            "--variant",
            "b=n",
            "--out",
            "f",
        ],
        w,
    );
    for f in [
        "gate_agreement_a.png",
        "induced_rho_b.png",
        "kernel_a.png",
        "excitation_corr_a.png",
        "a_vs_b_rho.png",
    ] {
        assert!(is_png(&w.join("f").join(f)), "{f}: {out}");
    }
    let out = ok(
        &[
            "stability",
            "explain",
            "--run",
            "r",
            "--data-dir",
            "fm",
            "--out",
            "e",
            "--images",
            "3",
            "--steps",
            "2",
        ],
        w,
    );
    assert!(out.contains("checkpoint step 4"), "{out}");
    assert!(is_png(&w.join("e/pullbacks.png")) && is_png(&w.join("e/ascent.png")));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.join("e/explain.json")).unwrap()).unwrap();
    assert_eq!(v["labels"].as_array().unwrap().len(), 3);
    let out = ok(
        &[
            "stability",
            "explain",
            "--run",
            "r",
            "--data-dir",
            "fm",
            "--out",
            "e0",
            "--images",
            "1",
            "--checkpoint",
            "0",
        ],
        w,
    );
    assert!(out.contains("checkpoint step 0"), "{out}");

    // Errors name the problem.
    let err = fails(
        &[
            "stability",
            "explain",
            "--run",
            "r",
            "--data-dir",
            "fm",
            "--out",
            "e",
            "--checkpoint",
            "3",
        ],
        w,
    );
    assert!(
        err.contains("no checkpoint") && err.contains("[0, 2, 4]"),
        "{err}"
    );
    let err = fails(
        &[
            "stability",
            "explain",
            "--run",
            "r",
            "--data-dir",
            "fm",
            "--out",
            "e",
            "--images",
            "20",
        ],
        w,
    );
    assert!(err.contains("the test split has 16"), "{err}");
    let err = fails(
        &[
            "stability",
            "explain",
            "--run",
            "nowhere",
            "--data-dir",
            "fm",
            "--out",
            "e",
        ],
        w,
    );
    assert!(err.contains("curtain train"), "{err}");
    let mut a: Vec<&str> = TRAIN.to_vec();
    a.extend_from_slice(&["--run", "r", "--lr", "0.5"]);
    assert!(fails(&a, w).contains("different configuration"));
    let err = fails(
        &["stability", "plot", "--variant", "a=missing", "--out", "f"],
        w,
    );
    assert!(err.contains("curtain stability measure"), "{err}");
}

#[test]
fn resnet_train_measure_plot_explain() {
    let work = workdir();
    let w = work.path();
    let mut a: Vec<&str> = TRAIN.to_vec();
    a.extend_from_slice(&["--run", "res", "--arch", "resnet"]);
    ok(&a, w);
    let cfg = std::fs::read_to_string(w.join("res/config.json")).unwrap();
    assert!(
        cfg.contains("\"resnet\"") && cfg.contains("blocks_per_stage"),
        "{cfg}"
    );
    let mut m: Vec<&str> = MEASURE.to_vec();
    m.extend_from_slice(&["--run", "res", "--out", "nr"]);
    let out = ok(&m, w);
    assert!(out.contains("skip connections"), "{out}");
    for f in [
        "gate_agreement.csv",
        "induced.csv",
        "frozen_retrain.csv",
        "summary.json",
    ] {
        assert!(w.join("nr").join(f).is_file(), "{f}");
    }
    for f in ["excitation_corr.csv", "kernel.csv"] {
        assert!(
            !w.join("nr").join(f).exists(),
            "{f} should not be written for a ResNet"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.join("nr/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["skipped"].as_array().unwrap().len(), 2, "{summary}");
    let agreement = std::fs::read_to_string(w.join("nr/gate_agreement.csv")).unwrap();
    assert!(agreement.contains("layer3.0.relu2"), "{agreement}");
    ok(
        &["stability", "plot", "--variant", "resnet=nr", "--out", "fr"],
        w,
    );
    assert!(
        is_png(&w.join("fr/induced_rho_resnet.png"))
            && is_png(&w.join("fr/frozen_retrain_resnet.png"))
    );
    assert!(!w.join("fr/kernel_resnet.png").exists());
    ok(
        &[
            "stability",
            "explain",
            "--run",
            "res",
            "--data-dir",
            "fm",
            "--out",
            "er",
            "--images",
            "2",
            "--steps",
            "2",
        ],
        w,
    );
    assert!(is_png(&w.join("er/pullbacks.png")));

    let mut a: Vec<&str> = TRAIN.to_vec();
    a.extend_from_slice(&["--run", "x", "--arch", "resnet", "--no-bn"]);
    assert!(fails(&a, w).contains("--no-bn is for the plain CNN"));
    let mut a: Vec<&str> = TRAIN.to_vec();
    a.extend_from_slice(&["--run", "x", "--arch", "vgg"]);
    assert!(fails(&a, w).contains("unknown architecture `vgg`"));
}
