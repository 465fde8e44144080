//! End-to-end tests: run the `curtain` binary on small generated images and tiny seeded
//! weights written by the test (no downloads), and check what it writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::Device;
use excitation::densenet::DenseNetConfig;
use excitation::gate::GradientMode;
use excitation::loopback::{LoopbackServer, Route};
use excitation::resnet::{BlockKind, ResNetConfig};
use excitation::vgg::VggConfig;
use excitation::weights::{state_dict, write_safetensors, NamedTensor, SaveOptions};
use serde_json::Value;

fn curtain(args: &[&str]) -> Output {
    curtain_env(args, &[])
}

/// `curtain` with extra environment variables.
fn curtain_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curtain"))
        .args(args)
        .env("XDG_CACHE_HOME", "/nonexistent-curtain-test-cache")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

/// The largest |got − expected| and the largest |expected|.
fn max_error_and_scale(got: &[f32], expected: &[f32]) -> (f32, f32) {
    let max_err = got
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let scale = expected.iter().map(|v| v.abs()).fold(0f32, f32::max);
    (max_err, scale)
}

fn ok(args: &[&str]) -> String {
    let out = curtain(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "curtain {args:?} failed:\n{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
}

fn fails(args: &[&str]) -> String {
    let out = curtain(args);
    assert!(!out.status.success(), "curtain {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Seeded values in [0, 1) (splitmix64).
fn uniform(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// Deterministic weights for a model's state dict: He-scaled uniform for weights,
/// non-trivial BatchNorm statistics.
fn seeded(mut tensors: Vec<NamedTensor>, seed: u64) -> Vec<NamedTensor> {
    for (k, t) in tensors.iter_mut().enumerate() {
        let n = t.values.len();
        let u = uniform(seed * 1000 + k as u64, n);
        let fan_in: usize = t.shape.iter().skip(1).product::<usize>().max(1);
        let bound = (6.0 / fan_in as f32).sqrt();
        t.values = if t.name.ends_with("running_var") {
            u.iter().map(|v| 0.5 + v).collect()
        } else if t.name.ends_with("running_mean") {
            u.iter().map(|v| 0.2 * (v - 0.5)).collect()
        } else if t.shape.len() == 1 && !t.name.ends_with("bias") {
            u.iter().map(|v| 0.8 + 0.4 * v).collect() // BatchNorm weight
        } else if t.shape.len() == 1 {
            u.iter().map(|v| 0.2 * (v - 0.5)).collect()
        } else {
            u.iter().map(|v| bound * (2.0 * v - 1.0)).collect()
        };
    }
    tensors
}

fn write_weights(dir: &Path, model: &str, seed: u64) -> PathBuf {
    let device = Device::flex();
    let mode = GradientMode::Vanilla;
    let tensors = match model {
        "tiny-resnet" => state_dict(
            &ResNetConfig::tiny(BlockKind::Bottleneck)
                .init(&device, mode)
                .unwrap(),
        ),
        "tiny-vgg" => state_dict(&VggConfig::tiny(true).init(&device, mode).unwrap()),
        "tiny-densenet" => state_dict(&DenseNetConfig::tiny().init(&device, mode).unwrap()),
        other => panic!("no tiny model {other}"),
    }
    .unwrap();
    let path = dir.join(format!("{model}.safetensors"));
    write_safetensors(&seeded(tensors, seed), &path, SaveOptions::default()).unwrap();
    path
}

/// Three small images of different shapes (one grey), and a corrupt file.
fn write_images(dir: &Path) -> PathBuf {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let rgb = |w: u32, h: u32, k: u32| {
        image::RgbImage::from_fn(w, h, move |x, y| {
            image::Rgb([
                ((x * 3 + y * k) % 256) as u8,
                ((x * y / 7 + k * 40) % 256) as u8,
                (((x as f32 / 9.0).sin() * 100.0 + 128.0) as u32 % 256) as u8,
            ])
        })
    };
    rgb(300, 200, 1)
        .save(images.join("a_landscape.png"))
        .unwrap();
    rgb(64, 64, 2).save(images.join("b_square.png")).unwrap();
    image::GrayImage::from_fn(90, 120, |x, y| image::Luma([((x * y) % 256) as u8]))
        .save(images.join("c_grey.png"))
        .unwrap();
    std::fs::write(
        images.join("d_corrupt.jpg"),
        b"\xFF\xD8\xFF\xE0 not really a jpeg",
    )
    .unwrap();
    images
}

/// A `.npy` file (v1.0, `<f4`, C order): shape and values.
fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00", "{}", path.display());
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"));
    let shape_str = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_str
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let values: Vec<f32> = b[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), shape.iter().product::<usize>());
    (shape, values)
}

fn summary(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// The figure record of `stem` in the summary.
fn figure<'a>(s: &'a Value, stem: &str) -> &'a Value {
    s["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["data"]
                .as_str()
                .is_some_and(|d| d.ends_with(&format!("{stem}.npy")))
        })
        .unwrap_or_else(|| panic!("no figure {stem} in {s}"))
}

/// Check that the PNG's cells are the min–max normalised raw tensor, cell by cell, at
/// a few pixels per cell.
fn check_png_matches_npy(png: &Path, npy: &Path, layout: &Value) {
    let img = image::open(png).unwrap().to_rgb8();
    let (shape, values) = read_npy(npy);
    let (rows, cols, h, w) = (shape[0], shape[1], shape[3], shape[4]);
    assert_eq!(img.width() as u64, layout["width"].as_u64().unwrap());
    assert_eq!(img.height() as u64, layout["height"].as_u64().unwrap());
    let gx = layout["grid_x"].as_u64().unwrap() as usize;
    let gy = layout["grid_y"].as_u64().unwrap() as usize;
    let p = layout["padding"].as_u64().unwrap() as usize;
    let cell = 3 * h * w;
    for r in 0..rows {
        for c in 0..cols {
            let v = &values[(r * cols + c) * cell..(r * cols + c + 1) * cell];
            let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let x0 = gx + p + c * (w + p);
            let y0 = gy + p + r * (h + p);
            for (y, x) in [(0, 0), (h / 2, w / 3), (h - 1, w - 1), (17, 101)] {
                let px = img.get_pixel((x0 + x) as u32, (y0 + y) as u32).0;
                for ch in 0..3 {
                    let t = (v[(ch * h + y) * w + x] - lo) / (hi - lo).max(1e-5);
                    let expected = (t * 255.0 + 0.5).clamp(0.0, 255.0) as u8;
                    assert_eq!(
                        px[ch],
                        expected,
                        "{} cell ({r}, {c}) pixel ({x}, {y})",
                        png.display()
                    );
                }
            }
        }
    }
}

#[test]
fn pullback_writes_grids_raw_tensors_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let weights = write_weights(dir.path(), "tiny-resnet", 1);
    let images = write_images(dir.path());
    let out = dir.path().join("out");
    let log = ok(&[
        "pullback",
        "--model",
        "tiny-resnet",
        "--weights",
        weights.to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
        "--classes",
        "1,3",
        "--out",
        out.to_str().unwrap(),
        "--batch-size",
        "4",
    ]);
    assert!(
        log.contains("skipped") && log.contains("d_corrupt.jpg"),
        "{log}"
    );
    let s = summary(&out);
    assert_eq!(s["images"].as_array().unwrap().len(), 3);
    assert_eq!(s["skipped"].as_array().unwrap().len(), 1);
    assert_eq!(s["images"][0]["top5"].as_array().unwrap().len(), 5);
    for stem in [
        "pullback-excitation",
        "pullback-vanilla",
        "pullback-comparison",
    ] {
        let f = figure(&s, stem);
        let png = out.join(format!("{stem}.png"));
        let npy = out.join(format!("{stem}.npy"));
        assert!(png.is_file() && npy.is_file());
        check_png_matches_npy(&png, &npy, &f["layout"]);
    }
    let (shape, exc) = read_npy(&out.join("pullback-excitation.npy"));
    assert_eq!(shape, [3, 3, 3, 224, 224]);
    let (_, van) = read_npy(&out.join("pullback-vanilla.npy"));
    // Column 0 is the image itself in both; the gradient columns differ.
    let cell = 3 * 224 * 224;
    assert_eq!(exc[..cell], van[..cell]);
    assert!(exc[..cell].iter().all(|v| (-1.0..=1.0).contains(v)));
    let grad_diff: f32 = exc[cell..3 * cell]
        .iter()
        .zip(&van[cell..3 * cell])
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(
        grad_diff > 0.0,
        "excitation and vanilla pullbacks must differ"
    );
    let a = image::open(out.join("pullback-excitation.png"))
        .unwrap()
        .to_rgb8();
    let b = image::open(out.join("pullback-vanilla.png"))
        .unwrap()
        .to_rgb8();
    assert_ne!(
        a.as_raw(),
        b.as_raw(),
        "excitation and vanilla grids differ"
    );
    // Comparison rows interleave the two.
    let (cshape, cmp) = read_npy(&out.join("pullback-comparison.npy"));
    assert_eq!(cshape, [6, 3, 3, 224, 224]);
    let row = 3 * cell;
    assert_eq!(cmp[..row], exc[..row]);
    assert_eq!(cmp[row..2 * row], van[..row]);
    // Target logits are recorded per image and class.
    let tl = s["images"][1]["target_logits"].as_array().unwrap();
    assert_eq!(tl.len(), 2);
    assert_eq!(tl[1]["class"], 3);
}

/// `CURTAIN_WAIT_POLICY`: the default (`active`: rayon's idle workers keep looking for jobs
/// through each pass) and `passive` (they sleep at once) give the same pullbacks, with 1 and 3
/// threads; any other value is an error naming the variable and its values.
#[test]
fn wait_policies_agree_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let weights = write_weights(dir.path(), "tiny-resnet", 3);
    let images = write_images(dir.path());
    let run = |policy: &str, threads: &str| {
        let out = dir.path().join(format!("out-{policy}-{threads}"));
        let result = curtain_env(
            &[
                "pullback",
                "--model",
                "tiny-resnet",
                "--classes",
                "1,3",
                "--batch-size",
                "4",
                "--weights",
                weights.to_str().unwrap(),
                "--images",
                images.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &[
                ("CURTAIN_WAIT_POLICY", policy),
                ("RAYON_NUM_THREADS", threads),
            ],
        );
        let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
        assert!(
            result.status.success(),
            "{policy}, {threads} threads:\n{stderr}"
        );
        read_npy(&out.join("pullback-excitation.npy"))
    };
    let (shape, reference) = run("passive", "1");
    for (policy, threads) in [
        ("active", "3"),
        ("passive", "3"),
        ("ACTIVE", "1"),
        ("", "3"),
    ] {
        let (s, values) = run(policy, threads);
        assert_eq!(s, shape);
        let (worst, scale) = max_error_and_scale(&values, &reference);
        assert!(
            worst <= 1e-5 * scale,
            "{policy}, {threads} threads: {worst} vs {scale}"
        );
    }
    let bad = curtain_env(&["classes", "golf"], &[("CURTAIN_WAIT_POLICY", "spin")]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success(),
        "CURTAIN_WAIT_POLICY=spin should fail"
    );
    assert!(
        stderr.contains("CURTAIN_WAIT_POLICY")
            && stderr.contains("`spin`")
            && stderr.contains("passive"),
        "{stderr}"
    );
}

#[test]
fn ascent_writes_images_and_differences() {
    let dir = tempfile::tempdir().unwrap();
    let weights = write_weights(dir.path(), "tiny-vgg", 2);
    let images = write_images(dir.path());
    let out = dir.path().join("out");
    ok(&[
        "ascent",
        "--model",
        "tiny-vgg",
        "--weights",
        weights.to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
        "--classes",
        "0,7",
        "--steps",
        "2",
        "--alpha",
        "5",
        "--eps",
        "8",
        "--limit",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let s = summary(&out);
    let cell = 3 * 224 * 224;
    for g in ["excitation", "vanilla"] {
        let (shape, imgs) = read_npy(&out.join(format!("ascent-{g}-images.npy")));
        let (_, diffs) = read_npy(&out.join(format!("ascent-{g}-diff.npy")));
        assert_eq!(shape, [2, 3, 3, 224, 224]);
        for i in 0..2 {
            let orig = &imgs[i * 3 * cell..(i * 3 + 1) * cell];
            for j in 1..3 {
                let x = &imgs[(i * 3 + j) * cell..(i * 3 + j + 1) * cell];
                let d = &diffs[(i * 3 + j) * cell..(i * 3 + j + 1) * cell];
                assert!(
                    x.iter().all(|v| (-1.0..=1.0).contains(v)),
                    "clamped to [-1, 1]"
                );
                let norm: f64 = x
                    .iter()
                    .zip(orig)
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(
                    norm <= 8.0 * 1.0001 && norm > 1.0,
                    "‖x − x0‖ = {norm} within ε = 8"
                );
                for k in (0..cell).step_by(997) {
                    assert!((d[k] - (x[k] - orig[k])).abs() < 1e-6);
                }
            }
        }
        for stem in [format!("ascent-{g}-images"), format!("ascent-{g}-diff")] {
            let f = figure(&s, &stem);
            check_png_matches_npy(
                &out.join(format!("{stem}.png")),
                &out.join(format!("{stem}.npy")),
                &f["layout"],
            );
        }
        let rows = s["results"][g].as_array().unwrap();
        assert_eq!(rows.len(), 4);
        // Short steps along the gradient raise the target logit; the excitation pullback is
        // not the gradient, so it is only required to raise it on average.
        let rises: Vec<f64> = rows
            .iter()
            .map(|r| {
                r["target_logit_after"].as_f64().unwrap()
                    - r["target_logit_before"].as_f64().unwrap()
            })
            .collect();
        if g == "vanilla" {
            assert!(
                rises.iter().all(|&d| d > 0.0),
                "vanilla ascent raises every target logit: {rows:?}"
            );
        } else {
            assert!(
                rises.iter().sum::<f64>() > 0.0,
                "excitation ascent raises the target logits on average: {rows:?}"
            );
        }
    }
    let (_, e) = read_npy(&out.join("ascent-excitation-images.npy"));
    let (_, v) = read_npy(&out.join("ascent-vanilla-images.npy"));
    assert_ne!(e, v);
    assert!(out.join("ascent-comparison-images.png").is_file());
    assert!(out.join("ascent-comparison-diff.npy").is_file());
}

#[test]
fn sweep_draws_temperatures_and_similarities() {
    let dir = tempfile::tempdir().unwrap();
    let weights = write_weights(dir.path(), "tiny-densenet", 3);
    let images = write_images(dir.path());
    let out = dir.path().join("out");
    ok(&[
        "sweep",
        "--model",
        "tiny-densenet",
        "--weights",
        weights.to_str().unwrap(),
        "--images",
        images.join("b_square.png").to_str().unwrap(),
        "--class",
        "4",
        "--temperatures",
        "3,0.3,0.001",
        "--out",
        out.to_str().unwrap(),
    ]);
    let s = summary(&out);
    let (shape, _) = read_npy(&out.join("sweep.npy"));
    assert_eq!(shape, [1, 5, 3, 224, 224]);
    assert!(out.join("sweep-similarity.png").is_file());
    let to_ref: Vec<f64> = s["mean_cosine_to_reference"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let to_van: Vec<f64> = s["mean_cosine_to_vanilla"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // Temperatures sorted: 0.001, 0.3, 3. The pullback at T = 0.3 is the reference.
    assert!((to_ref[1] - 1.0).abs() < 1e-9);
    // T → 0 approaches the vanilla gradient.
    assert!(to_van[0] > to_van[2], "cosine to vanilla {to_van:?}");
    assert!(
        to_van[0] > 0.9,
        "cosine to vanilla at T = 0.001: {}",
        to_van[0]
    );
    check_png_matches_npy(
        &out.join("sweep.png"),
        &out.join("sweep.npy"),
        &figure(&s, "sweep")["layout"],
    );
}

#[test]
fn svg_output() {
    let dir = tempfile::tempdir().unwrap();
    let weights = write_weights(dir.path(), "tiny-resnet", 4);
    let images = write_images(dir.path());
    let out = dir.path().join("out");
    ok(&[
        "pullback",
        "--model",
        "tiny-resnet",
        "--weights",
        weights.to_str().unwrap(),
        "--images",
        images.join("a_landscape.png").to_str().unwrap(),
        "--classes",
        "2",
        "--gradient",
        "excitation",
        "--format",
        "svg",
        "--out",
        out.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(out.join("pullback-excitation.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("data:image/png;base64,"));
    assert!(!out.join("pullback-vanilla.svg").exists());
}

#[test]
fn bad_flags_and_files_name_the_problem_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let weights = write_weights(dir.path(), "tiny-resnet", 5);
    let images = write_images(dir.path());
    let w = weights.to_str().unwrap();
    let im = images.to_str().unwrap();
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "pullback",
            "--model",
            "tiny-resnet",
            "--weights",
            w,
            "--images",
            im,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push("--out".into());
        v.push(dir.path().join("o").to_string_lossy().into_owned());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let v = base(extra);
        fails(&v.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    };
    let e = run(&["--temperature", "-1"]);
    assert!(e.contains("--temperature") && e.contains("0.3"), "{e}");
    let e = run(&["--device", "wgpu"]);
    assert!(e.contains("--features wgpu") || e.contains("wgpu"), "{e}");
    let e = run(&["--device", "tpu"]);
    assert!(e.contains("--device") && e.contains("flex"), "{e}");
    let e = run(&["--classes", "golf"]);
    assert!(e.contains("golf ball"), "{e}");
    let e = run(&["--classes", "574"]);
    assert!(e.contains("574") && e.contains("10 classes"), "{e}");
    let e = run(&["--on-bad-image", "fail"]);
    assert!(
        e.contains("d_corrupt.jpg") && e.contains("--on-bad-image skip"),
        "{e}"
    );
    let e = run(&["--gradient", "sideways"]);
    assert!(e.contains("vanilla") && e.contains("excitation"), "{e}");
    let e = run(&["--batch-size", "0"]);
    assert!(e.contains("--batch-size"), "{e}");
    let e = fails(&[
        "pullback",
        "--model",
        "tiny-resnet",
        "--weights",
        w,
        "--images",
        "/no/such/dir",
    ]);
    assert!(
        e.contains("/no/such/dir") && e.contains("does not exist"),
        "{e}"
    );
    // Weights of another model: the loader names a key.
    let vgg = write_weights(dir.path(), "tiny-vgg", 6);
    let e = fails(&[
        "pullback",
        "--model",
        "tiny-resnet",
        "--weights",
        vgg.to_str().unwrap(),
        "--images",
        im,
    ]);
    assert!(
        e.contains("features.0.weight") || e.contains("conv1.weight"),
        "{e}"
    );
    // No weights for an ImageNet model: says how to get them.
    let e = fails(&[
        "pullback",
        "--model",
        "resnet50",
        "--images",
        im,
        "--cache-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(e.contains("curtain weights fetch resnet50"), "{e}");
    let e = fails(&[
        "ascent",
        "--model",
        "tiny-resnet",
        "--weights",
        w,
        "--images",
        im,
        "--steps",
        "0",
    ]);
    assert!(e.contains("--steps"), "{e}");
    let e = fails(&[
        "sweep",
        "--model",
        "tiny-resnet",
        "--weights",
        w,
        "--images",
        im,
        "--temperatures",
        "0.1,abc",
    ]);
    assert!(e.contains("--temperatures") && e.contains("abc"), "{e}");
}

#[test]
fn classes_and_help() {
    let out = ok(&["classes", "golf"]);
    assert!(out.contains("574\tgolf ball"), "{out}");
    let out = ok(&["classes", "--imagenette"]);
    assert!(out.contains("n03888257\t701\tparachute"), "{out}");
    for cmd in ["pullback", "ascent", "sweep", "weights", "classes"] {
        let help = ok(&[cmd, "--help"]);
        assert!(help.contains("Usage"), "{help}");
    }
    let help = ok(&["ascent", "--help"]);
    for flag in [
        "--alpha",
        "--eps",
        "--steps",
        "--temperature",
        "--gradient",
        "--device",
        "--on-bad-image",
        "--format",
    ] {
        assert!(help.contains(flag), "ascent --help lacks {flag}");
    }
}

#[test]
fn weights_fetch_from_loopback_and_import() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let weights = write_weights(dir.path(), "tiny-resnet", 7);
    let body = std::fs::read(&weights).unwrap();
    let digest: String = sha2::Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let good = format!("/resnet50-{}.pth", &digest[..8]);
    let bad = "/resnet50-00000000.pth".to_string();
    let server = LoopbackServer::start(vec![
        Route::new(good.clone(), body.clone()),
        Route::new(bad.clone(), body.clone()),
    ]);
    let url = server.base().to_string();
    let cache = dir.path().join("cache");
    let c = cache.to_str().unwrap();
    let out = ok(&[
        "weights",
        "fetch",
        "resnet50",
        "--url",
        &format!("{url}{good}"),
        "--cache-dir",
        c,
        "--no-check",
    ]);
    assert!(out.contains(&digest), "{out}");
    let cached = cache.join(&good[1..]);
    assert_eq!(std::fs::read(&cached).unwrap(), body);
    // The same again: served from the cache, no request.
    let out = ok(&[
        "weights",
        "fetch",
        "resnet50",
        "--url",
        &format!("{url}{good}"),
        "--cache-dir",
        c,
        "--no-check",
    ]);
    assert!(out.contains("already cached"), "{out}");
    // A digest that does not match the name: error, nothing left behind.
    let e = fails(&[
        "weights",
        "fetch",
        "resnet50",
        "--url",
        &format!("{url}{bad}"),
        "--cache-dir",
        c,
        "--no-check",
    ]);
    assert!(e.contains("corrupt") && e.contains(&digest), "{e}");
    assert!(!cache.join(&bad[1..]).exists());
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    assert_eq!(server.requests().len(), 2);
    // import: loads into the right model, names keys for the wrong one.
    let out = ok(&[
        "weights",
        "import",
        weights.to_str().unwrap(),
        "--model",
        "tiny-resnet",
    ]);
    assert!(out.contains("loads into tiny-resnet"), "{out}");
    let e = fails(&[
        "weights",
        "import",
        weights.to_str().unwrap(),
        "--model",
        "tiny-vgg",
    ]);
    assert!(e.contains("missing `classifier.0.weight`"), "{e}");
    assert!(e.contains("unexpected `conv1.weight`"), "{e}");
    assert!(e.contains("another architecture"), "{e}");
    let e = fails(&[
        "weights",
        "import",
        dir.path().join("nope.pth").to_str().unwrap(),
    ]);
    assert!(e.contains("nope.pth") && e.contains("not a file"), "{e}");
}

/// Several `--images` paths and `--per-folder` on an ImageFolder tree; the `.npy` holds
/// exactly what the library computes for the same image, weights and class.
#[test]
fn several_image_paths_per_folder_cap_and_values_match_the_library() {
    use burn::tensor::{Tensor, TensorData};
    use excitation::classifier::Classifier;
    use excitation::gate::Gated;
    use excitation::pullback::{pullback, Targets};

    let dir = tempfile::tempdir().unwrap();
    let weights = write_weights(dir.path(), "tiny-vgg", 8);
    let images = write_images(dir.path());
    // An ImageFolder tree: two classes, two images each.
    let tree = dir.path().join("tree");
    for class in ["n01", "n02"] {
        std::fs::create_dir_all(tree.join(class)).unwrap();
        for f in ["a_landscape.png", "b_square.png"] {
            std::fs::copy(images.join(f), tree.join(class).join(f)).unwrap();
        }
    }
    let out = dir.path().join("out");
    let w = weights.to_str().unwrap();
    let o = out.to_str().unwrap();
    ok(&[
        "pullback",
        "--model",
        "tiny-vgg",
        "--weights",
        w,
        "--images",
        tree.to_str().unwrap(),
        "--per-folder",
        "1",
        "--classes",
        "3",
        "--gradient",
        "excitation",
        "--out",
        o,
    ]);
    let s = summary(&out);
    let folders: Vec<&str> = s["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["folder"].as_str().unwrap())
        .collect();
    assert_eq!(folders, ["n01", "n02"]);
    // Two files named directly, in the order given.
    let c_grey = images.join("c_grey.png");
    let b_square = images.join("b_square.png");
    ok(&[
        "pullback",
        "--model",
        "tiny-vgg",
        "--weights",
        w,
        "--images",
        c_grey.to_str().unwrap(),
        b_square.to_str().unwrap(),
        "--classes",
        "3",
        "--gradient",
        "excitation",
        "--temperature",
        "0.5",
        "--out",
        o,
    ]);
    let s = summary(&out);
    let names: Vec<&str> = s["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c_grey", "b_square"]);
    let (shape, values) = read_npy(&out.join("pullback-excitation.npy"));
    assert_eq!(shape, [2, 2, 3, 224, 224]);
    // The same pullback computed in-process through the library.
    let device = Device::flex();
    let mut model = VggConfig::tiny(true)
        .init(&device, GradientMode::Vanilla)
        .unwrap();
    excitation::weights::load_weights(&mut model, &weights).unwrap();
    model
        .set_gradient_mode(GradientMode::excitation(excitation::gate::Sigma::Sigmoid, 0.5).unwrap())
        .unwrap();
    let img = excitation::imagenet::images::load_image(&b_square).unwrap();
    let x = Tensor::<4>::from_data(
        TensorData::new(img.pixels.clone(), [1, 3, 224, 224]),
        &device,
    );
    assert_eq!(model.num_classes(), 10);
    let p = pullback(
        &model,
        x,
        &Targets::PerImage(vec![3]),
        1,
        &device.clone().autodiff(),
    )
    .unwrap();
    let expected = p.gradients.into_data().try_to_vec::<f32>().unwrap();
    let cell = 3 * 224 * 224;
    // Row 1 (b_square): column 0 is the image, column 1 the pullback.
    assert_eq!(&values[2 * cell..3 * cell], &img.pixels[..]);
    let got = &values[3 * cell..4 * cell];
    let (max_err, scale) = max_error_and_scale(got, &expected);
    assert!(
        scale > 0.0 && max_err <= 1e-6 * scale,
        "max error {max_err} vs scale {scale}"
    );
    // Nothing readable: a clear error.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("x.png"), b"not a png").unwrap();
    let e = fails(&[
        "pullback",
        "--model",
        "tiny-vgg",
        "--weights",
        w,
        "--images",
        empty.to_str().unwrap(),
        "--out",
        o,
    ]);
    assert!(
        e.contains("--images") && e.contains("no readable image"),
        "{e}"
    );
    let e = fails(&[
        "pullback",
        "--model",
        "tiny-vgg",
        "--weights",
        w,
        "--images",
        tree.to_str().unwrap(),
        "--per-folder",
        "0",
        "--out",
        o,
    ]);
    assert!(e.contains("--per-folder"), "{e}");
}
