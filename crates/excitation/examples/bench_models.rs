//! Benchmark of the excitation models against PyTorch (issue 3, item 7).
//!
//! For each model (resnet50, vgg11_bn, densenet121) and batch size (1, 5) at 224×224: one
//! forward pass, one vanilla input gradient, one excitation pullback (paper mode: sigmoid gate,
//! T = 0.3, soft max-pool) and one 10-step projected gradient ascent (α = 20, ε = 100), on each
//! requested backend, side by side with `tools/reference/bench_torch.py` (spawned by this
//! binary, same machine, same run), printed as ratios, with the peak resident memory of each
//! (model, batch) combination (VmHWM, reset through `/proc/self/clear_refs` between combos; the
//! Python side measures itself the same way).
//!
//! ```sh
//! cargo build --release -p excitation --example bench_models
//! target/release/examples/bench_models --backends flex,ndarray --skip-slow \
//!     --python /work/pyref/bin/python --json bench.json
//! ```
//!
//! Flags (all optional):
//! `--models a,b` `--batches 1,5` `--backends flex,ndarray[,wgpu]`
//! `--ops forward,vanilla,pullback,ascent10` `--repeats N` (timed runs after one warm-up; the
//! ascent runs once) `--size S` `--python PATH` (default `python3`) `--torch-script PATH`
//! (default `tools/reference/bench_torch.py`) `--torch-device cpu|cuda` `--torch-threads N`
//! (default: the number of CPUs, like rayon) `--no-torch` `--skip-slow` (skip the backward-pass
//! operations on ndarray, ~35 s per ResNet50 image) `--json PATH` (write all numbers)
//! `--straight-through` (switch off the single-operation gates of `excitation::gate_op` and
//! `excitation::pool_op`, and the frozen convolutions of `excitation::conv_op`, to compare
//! against the tensor-operation forms) `--no-winograd` (switch off only the Winograd
//! convolutions) `--no-im2col` (switch off only the im2col convolutions of `conv_op`)
//! `--no-im2col-split` (run the im2col GEMMs of several images, 1×1 convolutions and those
//! with few output pixels, forward and input gradient, as before session 11 instead of in
//! `im2col::split_plan`'s tasks)
//! `--rounds N` (default 1: run PyTorch, then this binary's backends, N times in turn; each
//! cell is then the median over the rounds and each ratio the median of the rounds' ratios
//! with their range, since a shared machine drifts between runs) `--torch-preload PATH` (run
//! the PyTorch side with `LD_PRELOAD=PATH`, e.g. Debian's `libmimalloc.so.2`, to give it the
//! same allocator as this binary, which uses mimalloc: docs/performance.md "Allocator").
//! `--main-outside-pool` (keep the main thread out of rayon's pool: each parallel operation is
//! then handed to the pool while the main thread sleeps, as before session 8; by default the
//! main thread is one of the pool's workers, as in the `curtain` binary,
//! `excitation::backend::join_rayon_pool`; `scripts/cpu-scaling.sh` compares the two)
//! `--passive-workers` (rayon's idle workers sleep between operations, as before session 9; by
//! default they look for jobs through each pass, as in the `curtain` binary: `excitation::awake`)
//! `--mimalloc-purge` (mimalloc's default purge delay of 10 ms, as before session 9; by default
//! freed memory is kept for an hour, as in the `curtain` binary: no page faults on reuse).
//! `--profile` (print, per (model, batch, operation), the time per pass spent in each kind of
//! this crate's operations, forward and backward, and the rest: `excitation::profile`; the
//! PyTorch side then prints, on stderr, its operators with the most self time per pass, from
//! `repeats` extra runs under `torch.profiler`).

/// The same global allocator as the `curtain` binary (docs/performance.md "Allocator");
/// `--torch-preload` gives the PyTorch side one too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use excitation::ascent::{ascent, AscentConfig};
use excitation::backend::{tensor_to_vec, BackendKind};
use excitation::classifier::Classifier;
use excitation::densenet::DenseNetConfig;
use excitation::gate::GradientMode;
use excitation::pullback::{excitation_pullback, vanilla_gradient, Targets};
use excitation::resnet::ResNetConfig;
use excitation::synthetic::synthetic_images;
use excitation::vgg::VggConfig;
use serde_json::{json, Value};

const OPS: [&str; 4] = ["forward", "vanilla", "pullback", "ascent10"];

#[derive(Debug, Clone)]
struct Options {
    models: Vec<String>,
    batches: Vec<usize>,
    backends: Vec<BackendKind>,
    ops: Vec<String>,
    repeats: usize,
    size: usize,
    python: String,
    torch_script: String,
    torch_device: String,
    torch_threads: usize,
    no_torch: bool,
    skip_slow: bool,
    json: Option<String>,
    straight_through: bool,
    no_winograd: bool,
    no_im2col: bool,
    no_im2col_split: bool,
    rounds: usize,
    torch_preload: Option<String>,
    main_outside_pool: bool,
    passive_workers: bool,
    mimalloc_purge: bool,
    profile: bool,
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_args() -> Result<Options, String> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut o = Options {
        models: list("resnet50,vgg11_bn,densenet121"),
        batches: vec![1, 5],
        backends: vec![BackendKind::Flex, BackendKind::NdArray],
        ops: OPS.iter().map(|s| s.to_string()).collect(),
        repeats: 3,
        size: 224,
        python: "python3".into(),
        torch_script: "tools/reference/bench_torch.py".into(),
        torch_device: "cpu".into(),
        torch_threads: std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cpus),
        no_torch: false,
        skip_slow: false,
        json: None,
        straight_through: false,
        no_winograd: false,
        no_im2col: false,
        no_im2col_split: false,
        rounds: 1,
        torch_preload: None,
        main_outside_pool: false,
        passive_workers: false,
        mimalloc_purge: false,
        profile: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String, what: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{what}: `{v}` is not a number"))
        };
        match flag.as_str() {
            "--models" => o.models = list(&value()?),
            "--batches" => {
                o.batches = list(&value()?)
                    .into_iter()
                    .map(|b| num(b, "--batches"))
                    .collect::<Result<_, _>>()?
            }
            "--backends" => {
                o.backends = list(&value()?)
                    .iter()
                    .map(|b| BackendKind::parse(b).map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?
            }
            "--ops" => o.ops = list(&value()?),
            "--repeats" => o.repeats = num(value()?, "--repeats")?.max(1),
            "--size" => o.size = num(value()?, "--size")?,
            "--python" => o.python = value()?,
            "--torch-script" => o.torch_script = value()?,
            "--torch-device" => o.torch_device = value()?,
            "--torch-threads" => o.torch_threads = num(value()?, "--torch-threads")?,
            "--no-torch" => o.no_torch = true,
            "--skip-slow" => o.skip_slow = true,
            "--straight-through" => o.straight_through = true,
            "--no-winograd" => o.no_winograd = true,
            "--no-im2col" => o.no_im2col = true,
            "--no-im2col-split" => o.no_im2col_split = true,
            "--main-outside-pool" => o.main_outside_pool = true,
            "--passive-workers" => o.passive_workers = true,
            "--mimalloc-purge" => o.mimalloc_purge = true,
            "--profile" => o.profile = true,
            "--json" => o.json = Some(value()?),
            "--rounds" => o.rounds = num(value()?, "--rounds")?.max(1),
            "--torch-preload" => {
                let path = value()?;
                if !std::path::Path::new(&path).is_file() {
                    return Err(format!("--torch-preload: no file `{path}`"));
                }
                o.torch_preload = Some(path)
            }
            "-h" | "--help" => {
                println!(
                    "{}",
                    include_str!("bench_models.rs")
                        .lines()
                        .take_while(|l| l.starts_with("//!"))
                        .map(|l| l.trim_start_matches("//!").trim_start())
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown flag `{other}` (see --help)")),
        }
    }
    for op in &o.ops {
        if !OPS.contains(&op.as_str()) {
            return Err(format!("unknown op `{op}`: expected some of {OPS:?}"));
        }
    }
    for m in &o.models {
        if !["resnet50", "vgg11_bn", "densenet121"].contains(&m.as_str()) {
            return Err(format!(
                "unknown model `{m}`: expected resnet50, vgg11_bn or densenet121"
            ));
        }
    }
    for b in &o.backends {
        if !b.is_available() {
            return Err(format!(
                "backend `{b}` is not compiled in (rebuild with `--features wgpu`)"
            ));
        }
    }
    Ok(o)
}

/// VmHWM or VmRSS of this process in MiB.
fn vm_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// mimalloc's `mi_option_purge_delay` (its index in mimalloc's `mi_option_t`, which
/// `libmimalloc-sys` does not name; the same in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc hands freed memory back to the kernel only after an hour, as in the `curtain`
/// binary (`src/main.rs`, docs/performance.md "Session 9"), instead of after 10 ms.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores the option's value; called first thing in `main`, before
    // any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 3_600_000) }
}

/// Hands the memory that mimalloc keeps for reuse back to the kernel, so that the next
/// (model, batch) combination's peak resident memory counts only its own allocations, not
/// those that the previous combinations freed (with `force`, whatever the purge delay).
#[allow(unsafe_code)]
fn release_free_memory() {
    // SAFETY: `mi_collect` has no preconditions; it only returns free pages to the kernel.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Resets the resident-set high-water mark (Linux ≥ 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The median (the mean of the two middle values for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs one operation to completion (results read back to the host, which also synchronises
/// a GPU device).
fn run_op<M: Classifier>(
    op: &str,
    model: &M,
    x: &Tensor<4>,
    targets: &[usize],
    ad: &Device,
) -> f32 {
    let rows = Targets::PerImage(targets.to_vec());
    let batch = targets.len();
    let out = match op {
        "forward" => tensor_to_vec(model.forward(x.clone())),
        "vanilla" => vanilla_gradient(model, x.clone(), &rows, batch, ad)
            .and_then(|p| tensor_to_vec(p.gradients)),
        "pullback" => {
            excitation_pullback(model, GradientMode::paper(), x.clone(), &rows, batch, ad)
                .and_then(|p| tensor_to_vec(p.gradients))
        }
        "ascent10" => {
            let mut m = model.clone();
            m.set_gradient_mode(GradientMode::paper())
                .expect("paper mode");
            let config = AscentConfig {
                steps: 10,
                ..AscentConfig::default()
            };
            ascent(&m, x.clone(), targets, &config, ad)
                .and_then(|a| tensor_to_vec(a.last().clone()))
        }
        _ => unreachable!("validated op"),
    };
    let v = out.unwrap_or_else(|e| panic!("{op} failed: {e}"));
    v[0]
}

fn bench_model<M: Classifier>(
    model: &M,
    name: &str,
    backend: BackendKind,
    o: &Options,
    rows: &mut Vec<Value>,
) {
    let device = backend.device();
    let ad = backend.autodiff_device();
    for &batch in &o.batches {
        let x = Tensor::<4>::from_data(
            TensorData::new(
                synthetic_images([batch, 3, o.size, o.size]),
                [batch, 3, o.size, o.size],
            ),
            &device,
        );
        let targets: Vec<usize> = (0..batch).map(|i| i * 7 % 1000).collect();
        release_free_memory();
        let reset = reset_peak();
        for op in &o.ops {
            if o.skip_slow && backend == BackendKind::NdArray && op != "forward" {
                continue;
            }
            let runs: Vec<(bool, usize)> = if op == "ascent10" {
                vec![(false, 1)]
            } else {
                vec![(true, 1), (false, o.repeats)]
            };
            let mut times = Vec::new();
            // The untimed first run's time: on wgpu it includes compiling and autotuning the
            // kernels of new shapes, a one-off cost a user pays too.
            let mut warm_up = None;
            for (warm, n) in runs {
                // Only the timed runs are profiled (`--profile`).
                excitation::profile::set_enabled(o.profile && !warm);
                excitation::profile::take();
                for _ in 0..n {
                    let t0 = Instant::now();
                    let first = run_op(op, model, &x, &targets, &ad);
                    let dt = t0.elapsed().as_secs_f64();
                    assert!(first.is_finite(), "{name} {op}: non-finite output");
                    if warm {
                        warm_up = Some(dt);
                    } else {
                        times.push(dt);
                    }
                }
            }
            let totals = excitation::profile::take();
            excitation::profile::set_enabled(false);
            let s = median(times.clone());
            let first = warm_up.map_or(String::new(), |w| format!(" (untimed first run {w:.2} s)"));
            eprintln!("{backend} {name} b{batch} {op}: {s:.4} s{first}");
            if o.profile {
                print_profile(&format!("{backend} {name} b{batch} {op}"), &totals, &times);
            }
            rows.push(json!({"impl": backend.name(), "model": name, "batch": batch, "op": op, "seconds": s,
                             "min_seconds": times.iter().cloned().fold(f64::INFINITY, f64::min), "repeats": times.len(),
                             "first_run_seconds": warm_up}));
        }
        rows.push(json!({"impl": backend.name(), "model": name, "batch": batch, "op": "peak_memory",
                         "peak_rss_mib": vm_mib("VmHWM:").unwrap_or(f64::NAN), "peak_reset": reset}));
    }
}

/// `--profile`: where the timed runs of one operation spent their time, per kind of this
/// crate's operations (`excitation::profile`), per pass; "other" is the rest of the pass
/// (flex's own operations, autodiff's bookkeeping and gradient sums).
fn print_profile(title: &str, totals: &[excitation::profile::Total], times: &[f64]) {
    let passes = times.len() as f64;
    let pass_ms = times.iter().sum::<f64>() / passes * 1e3;
    println!(
        "\n{title}: {pass_ms:.1} ms per pass (mean of {passes}), by kind of operation \
         (flex's implementations only; on other backends all is \"other\"), threads {}\n",
        rayon::current_num_threads()
    );
    println!("| kind | calls per pass | ms per pass | share |");
    println!("|---|---|---|---|");
    let mut timed_ms = 0.0;
    for t in totals.iter().filter(|t| t.calls > 0) {
        let ms = t.seconds / passes * 1e3;
        timed_ms += ms;
        println!(
            "| {} | {:.0} | {ms:.2} | {:.1} % |",
            t.kind.name(),
            t.calls as f64 / passes,
            100.0 * ms / pass_ms
        );
    }
    let other = pass_ms - timed_ms;
    println!(
        "| other | – | {other:.2} | {:.1} % |",
        100.0 * other / pass_ms
    );
}

fn run_rust(o: &Options) -> Vec<Value> {
    let mut rows = Vec::new();
    for &backend in &o.backends {
        let device = backend.device();
        for name in &o.models {
            let mode = GradientMode::Vanilla;
            match name.as_str() {
                "resnet50" => bench_model(
                    &ResNetConfig::resnet50()
                        .init(&device, mode)
                        .expect("resnet50"),
                    name,
                    backend,
                    o,
                    &mut rows,
                ),
                "vgg11_bn" => bench_model(
                    &VggConfig::vgg11_bn().init(&device, mode).expect("vgg11_bn"),
                    name,
                    backend,
                    o,
                    &mut rows,
                ),
                "densenet121" => bench_model(
                    &DenseNetConfig::densenet121()
                        .init(&device, mode)
                        .expect("densenet121"),
                    name,
                    backend,
                    o,
                    &mut rows,
                ),
                _ => unreachable!("validated model"),
            }
        }
    }
    rows
}

/// (model, batch, op): the row of a table.
type Key = (String, usize, String);
/// Row -> implementation -> seconds (or MiB for the memory rows).
type Table = BTreeMap<Key, BTreeMap<String, f64>>;

/// One round's numbers: PyTorch's (under `torch_name`) and each backend's.
fn round_table(torch_name: &str, torch: Option<&Value>, rust: &[Value]) -> Table {
    let mut table = Table::new();
    let mut add = |impl_name: &str, r: &Value| {
        let key = (
            r["model"].as_str().unwrap().to_string(),
            r["batch"].as_u64().unwrap() as usize,
            r["op"].as_str().unwrap().to_string(),
        );
        let v = if r["op"] == "peak_memory" {
            r["peak_rss_mib"].as_f64()
        } else {
            r["seconds"].as_f64()
        };
        table
            .entry(key)
            .or_default()
            .insert(impl_name.to_string(), v.unwrap_or(f64::NAN));
        if let Some(c) = r["cuda_peak_mib"].as_f64() {
            let key = (
                r["model"].as_str().unwrap().to_string(),
                r["batch"].as_u64().unwrap() as usize,
                "cuda_peak_memory".to_string(),
            );
            table
                .entry(key)
                .or_default()
                .insert(impl_name.to_string(), c);
        }
    };
    if let Some(t) = torch {
        for r in t["results"].as_array().into_iter().flatten() {
            add(torch_name, r);
        }
    }
    for r in rust {
        add(r["impl"].as_str().unwrap(), r);
    }
    table
}

fn run_torch(o: &Options) -> Result<Value, String> {
    let mut command = Command::new(&o.python);
    if let Some(path) = &o.torch_preload {
        command.env("LD_PRELOAD", path);
    }
    let out = command
        .arg(&o.torch_script)
        .args([
            "--models",
            &o.models.join(","),
            "--batches",
            &o.batches
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ])
        .args([
            "--ops",
            &o.ops.join(","),
            "--size",
            &o.size.to_string(),
            "--repeats",
            &o.repeats.to_string(),
        ])
        .args([
            "--device",
            &o.torch_device,
            "--threads",
            &o.torch_threads.to_string(),
        ])
        .args(o.profile.then_some("--profile"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| {
            format!(
                "cannot run `{} {}`: {e} (use --python PATH or --no-torch)",
                o.python, o.torch_script
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "`{} {}` failed with {}",
            o.python, o.torch_script, out.status
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("bench_torch.py printed no JSON: {e}"))
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench_models: {e}");
            std::process::exit(2);
        }
    };
    // Before rayon's threads exist: mimalloc keeps freed memory for reuse instead of handing it
    // back to the kernel after 10 ms (as the `curtain` binary; `--mimalloc-purge` keeps the
    // default).
    if !o.mimalloc_purge {
        keep_freed_memory();
    }
    // Before anything else touches rayon's global pool (RAYON_NUM_THREADS still counts every
    // thread, this one included).
    if !o.main_outside_pool {
        if let Err(e) = excitation::backend::join_rayon_pool() {
            eprintln!("bench_models: could not make the main thread a rayon worker: {e}");
            std::process::exit(2);
        }
    }
    excitation::awake::set_enabled(!o.passive_workers);
    excitation::gate_op::set_fused_ops(!o.straight_through);
    excitation::conv_op::set_winograd(!o.no_winograd);
    excitation::conv_op::set_im2col(!o.no_im2col);
    excitation::im2col::set_split(!o.no_im2col_split);
    let load_before = load_average();
    let mut rounds = Vec::new();
    for round in 1..=o.rounds {
        if o.rounds > 1 {
            eprintln!("bench_models: round {round} of {}", o.rounds);
        }
        let torch = if o.no_torch {
            None
        } else {
            match run_torch(&o) {
                Ok(v) => Some(v),
                Err(e) => {
                    eprintln!("bench_models: {e}");
                    std::process::exit(1);
                }
            }
        };
        let rust = run_rust(&o);
        rounds.push((torch, rust));
    }
    let load_after = load_average();
    let torch_name = format!("torch-{}", o.torch_device);
    let tables: Vec<Table> = rounds
        .iter()
        .map(|(torch, rust)| round_table(&torch_name, torch.as_ref(), rust))
        .collect();
    let impls: Vec<String> = o.backends.iter().map(|b| b.name().to_string()).collect();
    println!("# excitation benchmark: {}x{} images, {} CPUs, torch threads {}, repeats {} (median), rounds {}, load avg before {load_before} / after {load_after}",
        o.size, o.size, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), o.torch_threads, o.repeats, o.rounds);
    println!(
        "# allocators: flex/ndarray mimalloc (this binary's global allocator); torch {}",
        match &o.torch_preload {
            Some(path) => format!("LD_PRELOAD={path}"),
            None => "as installed (glibc malloc unless preloaded)".into(),
        }
    );
    println!(
        "# gates: {}",
        if o.straight_through {
            "straight-through tensor operations (--straight-through)"
        } else {
            "single operations on flex/ndarray (excitation::gate_op, pool_op)"
        }
    );
    println!(
        "# 3x3 convolutions on flex: {}",
        if o.straight_through || o.no_winograd {
            "flex's conv2d (Winograd off)"
        } else {
            "Winograd F(2x2,3x3) where it applies (excitation::conv_op)"
        }
    );
    println!(
        "# small-image convolutions on flex: {}",
        if o.straight_through || o.no_im2col {
            "flex's conv2d (im2col path off)"
        } else {
            "im2col + threaded GEMM where it applies (excitation::conv_op)"
        }
    );
    println!(
        "# im2col GEMMs of several images on flex: {}",
        if o.straight_through {
            "flex's conv2d"
        } else if o.no_im2col_split {
            "as before session 11 (--no-im2col-split)"
        } else {
            "tasks of output-channel and pixel blocks (excitation::im2col::split_plan)"
        }
    );
    println!(
        "# rayon: {} threads{}",
        rayon::current_num_threads(),
        if o.main_outside_pool {
            " beside the main thread (--main-outside-pool)"
        } else {
            ", the main thread one of them"
        }
    );
    if let Some(t) = rounds.first().and_then(|(t, _)| t.as_ref()) {
        println!(
            "# torch {} on {}",
            t["torch"].as_str().unwrap_or("?"),
            t["device"].as_str().unwrap_or("?")
        );
    }
    let mut header = format!("| model | batch | op | {torch_name} |");
    for i in &impls {
        header += &format!(" {i} | {i}/torch |");
    }
    println!("{header}");
    println!("|{}", "---|".repeat(4 + 2 * impls.len()));
    let keys: std::collections::BTreeSet<&Key> = tables.iter().flat_map(|t| t.keys()).collect();
    for key @ (model, batch, op) in keys {
        let unit = if op.contains("memory") { " MiB" } else { " s" };
        let fmt = |v: f64| {
            if op.contains("memory") {
                format!("{v:.0}{unit}")
            } else {
                format!("{v:.3}{unit}")
            }
        };
        // This cell's value in each round that has it.
        let values = |name: &str| -> Vec<f64> {
            tables
                .iter()
                .filter_map(|t| t.get(key).and_then(|v| v.get(name)).copied())
                .collect()
        };
        let t = values(&torch_name);
        let mut line = format!(
            "| {model} | {batch} | {op} | {} |",
            if t.is_empty() {
                "–".into()
            } else {
                fmt(median(t))
            }
        );
        for i in &impls {
            let v = values(i);
            if v.is_empty() {
                line += " skipped | – |";
                continue;
            }
            let ratios: Vec<f64> = tables
                .iter()
                .filter_map(|t| {
                    let cell = t.get(key)?;
                    Some(cell.get(i.as_str())? / cell.get(&torch_name)?)
                })
                .collect();
            let ratio = match ratios.len() {
                0 => "–".to_string(),
                1 => format!("{:.2}×", ratios[0]),
                _ => {
                    let (lo, hi) = ratios
                        .iter()
                        .fold((f64::INFINITY, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
                    format!("{:.2}× ({lo:.2}–{hi:.2})", median(ratios))
                }
            };
            line += &format!(" {} | {ratio} |", fmt(median(v)));
        }
        println!("{line}");
    }
    if let Some(path) = &o.json {
        let rounds: Vec<Value> = rounds
            .iter()
            .map(|(torch, rust)| json!({"torch": torch, "rust": rust}))
            .collect();
        let doc = json!({"options": format!("{o:?}"), "load_before": load_before, "load_after": load_after, "rounds": rounds});
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap())
            .unwrap_or_else(|e| eprintln!("cannot write {path}: {e}"));
    }
}
