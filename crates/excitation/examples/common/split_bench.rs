//! What `bench_winograd` and `bench_pointwise` share: their command line, the thread pool
//! set up as in the `curtain` binary, deterministic inputs and the grid of block sizes.

/// `--batch N` (default 5), `--repeats R` (default 15), `--sweep`.
pub struct Args {
    pub batch: usize,
    pub repeats: usize,
    pub sweep: bool,
}

/// Parses the command line of the benchmark `name` (exits with a usage line on bad input),
/// then makes the main thread one of rayon's workers and keeps the workers awake while a
/// split is timed, as the `curtain` binary does.
pub fn start(name: &str) -> Args {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut parsed = Args {
        batch: 5,
        repeats: 15,
        sweep: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--sweep" {
            parsed.sweep = true;
            continue;
        }
        let value = it.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--batch", Some(v)) if v > 0 => parsed.batch = v,
            ("--repeats", Some(v)) if v > 0 => parsed.repeats = v,
            _ => {
                eprintln!("usage: {name} [--batch N] [--repeats R] [--sweep] (N, R ≥ 1)");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = excitation::backend::join_rayon_pool() {
        eprintln!("{name}: could not make the main thread a rayon worker: {e}");
        std::process::exit(2);
    }
    excitation::awake::set_enabled(true);
    parsed
}

/// Deterministic values in [-1, 1).
pub fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// `size`, then its halvings (rounded up) down to `stop`.
pub fn halvings(size: usize, stop: usize) -> Vec<usize> {
    std::iter::successors(Some(size), |&v| (v > stop).then(|| v.div_ceil(2).max(stop))).collect()
}
