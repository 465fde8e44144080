//! Benchmark of the core formulas on a 784-512-512-512-10 MLP, side by side with numpy.
//!
//! ```text
//! cargo build --release -p pathspace --example bench
//! target/release/examples/bench [--batch 1024] [--gram 4096] [--reps 5] [--rounds 3]
//!     [--python /work/pyref/bin/python]
//! ```
//!
//! Measures (f64 throughout, best of `reps` within a round):
//! - excitation pullbacks per second (Γ = sigmoid(z/0.3), class 0) for a batch, computed as
//!   matrix products ([`pathspace::pullback::pullbacks_batch`]);
//! - the time of the N × N Gram matrix of K_Γ ([`pathspace::kernel::gram_matrix`]);
//! - the same two formulas run by numpy (`tools/bench/pathspace_numpy.py`) on the same
//!   weights and inputs (passed through safetensors files), with checksums confirming that
//!   both computed the same numbers.
//!
//! Rust and numpy alternate for `rounds` rounds (the machine may be shared); the table
//! reports the per-round ratios numpy time / Rust time (> 1: Rust is faster) and their median.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ndarray::{Array2, Axis, Slice};
use pathspace::kernel::gram_matrix;
use pathspace::mlp::SplitMix64;
use pathspace::pullback::pullbacks_batch;
use pathspace::{Excitation, Mlp};

struct Args {
    batch: usize,
    gram: usize,
    reps: usize,
    rounds: usize,
    python: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        batch: 1024,
        gram: 4096,
        reps: 5,
        rounds: 3,
        python: "python3".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--batch" => args.batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--gram" => args.gram = value()?.parse().map_err(|e| format!("--gram: {e}"))?,
            "--reps" => args.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--rounds" => args.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--python" => args.python = value()?,
            other => {
                return Err(format!(
                "unknown flag {other}; use --batch N --gram N --reps N --rounds N --python PATH"
            ))
            }
        }
    }
    if args.batch == 0 || args.gram == 0 || args.reps == 0 || args.rounds == 0 {
        return Err("--batch, --gram, --reps and --rounds must be positive".into());
    }
    Ok(args)
}

fn best_of<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..reps {
        let t0 = Instant::now();
        let r = f();
        best = best.min(t0.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.expect("reps >= 1"))
}

fn json_number(json: &str, key: &str) -> Option<f64> {
    let start = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = json[start..].trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

struct Numpy {
    pullbacks_per_second: f64,
    gram_seconds: f64,
    pullback_checksum: f64,
    gram_checksum: f64,
}

fn run_numpy(args: &Args, weights: &Path, inputs: &Path) -> Result<Numpy, String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/bench/pathspace_numpy.py"
    );
    let out = Command::new(&args.python)
        .arg(script)
        .args([
            "--weights",
            &weights.display().to_string(),
            "--inputs",
            &inputs.display().to_string(),
        ])
        .args([
            "--batch",
            &args.batch.to_string(),
            "--gram",
            &args.gram.to_string(),
            "--reps",
            &args.reps.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run `{}` ({e}); pass --python PATH", args.python))?;
    if !out.status.success() {
        return Err(format!(
            "numpy script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let json = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| json_number(&json, k).ok_or(format!("numpy output lacks {k}: {json}"));
    Ok(Numpy {
        pullbacks_per_second: get("pullbacks_per_second")?,
        gram_seconds: get("gram_seconds")?,
        pullback_checksum: get("pullback_checksum")?,
        gram_checksum: get("gram_checksum")?,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let mlp = Mlp::random(&[784, 512, 512, 512, 10], 10, 42)?;
    let n = args.batch.max(args.gram);
    let inputs: Array2<f64> = SplitMix64::new(7).matrix(n, 784, 1.0);
    let gamma = Excitation::paper_default();
    println!(
        "pathspace bench: MLP 784-512-512-512-10, f64, Γ = sigmoid(z/0.3), {} threads, pullback batch {}, Gram N = {}",
        pathspace::threads(),
        args.batch,
        args.gram
    );

    let dir = std::env::temp_dir().join(format!("pathspace-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let weights = dir.join("mlp.safetensors");
    std::fs::write(&weights, mlp.to_safetensors_bytes()?)?;
    let input_file = dir.join("inputs.safetensors");
    let bytes: Vec<u8> = inputs.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![n, 784], &bytes)?;
    std::fs::write(&input_file, safetensors::serialize([("x", view)], None)?)?;

    let xb = inputs.slice_axis(Axis(0), Slice::from(0..args.batch));
    let xg = inputs.slice_axis(Axis(0), Slice::from(0..args.gram));
    println!(
        "{:>5} {:>14} {:>14} {:>8} {:>12} {:>12} {:>8}",
        "round", "rust pb/s", "numpy pb/s", "ratio", "rust Gram s", "numpy Gram s", "ratio"
    );
    let (mut pb_ratios, mut gram_ratios) = (Vec::new(), Vec::new());
    let mut numpy_error = None;
    for round in 1..=args.rounds {
        let (t_pb, v) = best_of(args.reps, || {
            pullbacks_batch(&mlp, &gamma, 0, xb).expect("valid")
        });
        let (t_gram, k) = best_of((args.reps / 2).max(1), || {
            gram_matrix(&mlp, &gamma, xg).expect("valid")
        });
        let rust_pb = args.batch as f64 / t_pb;
        match run_numpy(&args, &weights, &input_file) {
            Ok(np) => {
                let (r_pb, r_gram) = (rust_pb / np.pullbacks_per_second, np.gram_seconds / t_gram);
                println!(
                    "{round:>5} {rust_pb:>14.0} {:>14.0} {r_pb:>8.2} {t_gram:>12.3} {:>12.3} {r_gram:>8.2}",
                    np.pullbacks_per_second, np.gram_seconds
                );
                pb_ratios.push(r_pb);
                gram_ratios.push(r_gram);
                if round == 1 {
                    let (vs, ks) = (v.sum(), k.sum());
                    println!(
                        "      checksums: pullbacks rel. diff {:.1e}, Gram rel. diff {:.1e}",
                        ((vs - np.pullback_checksum) / np.pullback_checksum).abs(),
                        ((ks - np.gram_checksum) / np.gram_checksum).abs()
                    );
                }
            }
            Err(e) => {
                println!(
                    "{round:>5} {rust_pb:>14.0} {:>14} {:>8} {t_gram:>12.3}",
                    "-", "-"
                );
                numpy_error = Some(e);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(e) = numpy_error {
        println!("numpy: {e}");
    }
    if !pb_ratios.is_empty() {
        println!(
            "median ratio numpy time / rust time: pullbacks {:.2}, Gram {:.2} (> 1: rust faster)",
            median(pb_ratios),
            median(gram_ratios)
        );
    }
    Ok(())
}
