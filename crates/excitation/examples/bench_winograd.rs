//! Times `winograd::conv3x3` under different splits of its work (`winograd::plan`): for
//! each shape, the split `plan` chooses for this pool's thread count, the split it would
//! choose for other thread counts, and whole-output-channel chunks (the split before output
//! channels could be divided), in alternation, median of `--repeats` runs each (ms).
//!
//! With `--sweep`, every split of a grid instead: tile rows per chunk halved from all of
//! them down to 1, output channels per chunk halved from all of them down to 16 (where to
//! fit `plan`'s cost model, and to see which split a machine runs fastest).
//!
//! ```sh
//! cargo build --release -p excitation --example bench_winograd
//! RAYON_NUM_THREADS=16 target/release/examples/bench_winograd [--batch N] [--repeats R] [--sweep]
//! ```

use std::time::Instant;

#[path = "common/split_bench.rs"]
mod split_bench;
use split_bench::{halvings, values};

use excitation::winograd::{conv3x3_with_plan, plan, Kernels, Plan};

/// The split by whole tile rows only, as `conv3x3` made it before output channels could be
/// divided: about 2¹⁸ / (c + k) tiles (256 to 1024), halved while a thread would be idle.
fn rows_only(tile_rows: usize, tw: usize, c: usize, k: usize, threads: usize) -> Plan {
    let target = (262_144 / (c + k)).clamp(256, 1024);
    let mut rows = (target / tw).max(1).min(tile_rows);
    while rows > 1 && tile_rows.div_ceil(rows) < threads {
        rows = rows.div_ceil(2);
    }
    Plan { rows, k_block: k }
}

/// Tile rows per chunk halved from `tile_rows` to 1, times output channels per chunk halved
/// from `k` to 16.
fn grid(tile_rows: usize, k: usize) -> Vec<Plan> {
    let mut plans = Vec::new();
    for k_block in halvings(k, 16.min(k)) {
        for rows in halvings(tile_rows, 1) {
            plans.push(Plan { rows, k_block });
        }
    }
    plans
}

fn main() {
    let split_bench::Args {
        batch,
        repeats,
        sweep,
    } = split_bench::start("bench_winograd");
    let threads = rayon::current_num_threads();
    println!("# bench_winograd: batch {batch}, {threads} threads, median of {repeats} (ms)");
    println!("| conv | pass | split | rows × k_block | chunks | ms |");
    println!("|---|---|---|---|---|---|");
    // ResNet50's and VGG11_BN's 3×3 layers where few tiles meet many channels, and
    // DenseNet121's growth convolution.
    for (c, k, hw) in [
        (64usize, 64usize, 56usize),
        (128, 128, 28),
        (256, 256, 14),
        (512, 512, 14),
        (512, 512, 7),
        (128, 32, 14),
    ] {
        let (th, tw) = (hw.div_ceil(2), hw.div_ceil(2));
        let tile_rows = batch * th;
        let x = values(batch * c * hw * hw, 1);
        let g = values(batch * k * hw * hw, 2);
        let weight = values(k * c * 9, 3);
        for (pass, kernels) in [
            ("forward", Kernels::Forward),
            ("input grad", Kernels::InputGradient),
        ] {
            // The input gradient maps k channels to c.
            let (cin, cout, input) = match kernels {
                Kernels::Forward => (c, k, &x),
                Kernels::InputGradient => (k, c, &g),
            };
            let mut splits: Vec<(String, Plan)> = vec![
                (
                    format!("plan({threads})"),
                    plan(tile_rows, tw, cin, cout, threads),
                ),
                (
                    format!("rows only({threads})"),
                    rows_only(tile_rows, tw, cin, cout, threads),
                ),
            ];
            for other in [2, 8, 16] {
                if other != threads {
                    splits.push((
                        format!("plan({other})"),
                        plan(tile_rows, tw, cin, cout, other),
                    ));
                }
            }
            if sweep {
                splits = grid(tile_rows, cout)
                    .into_iter()
                    .map(|p| ("grid".to_string(), p))
                    .collect();
            }
            let shape = [batch, cin, hw, hw];
            let mut times = vec![Vec::new(); splits.len()];
            let _awake = excitation::awake::keep_workers_awake();
            for _ in 0..repeats {
                for (i, (_, p)) in splits.iter().enumerate() {
                    let start = Instant::now();
                    std::hint::black_box(conv3x3_with_plan(
                        input, shape, &weight, cout, kernels, *p,
                    ));
                    times[i].push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
            for ((name, p), mut ts) in splits.into_iter().zip(times) {
                ts.sort_by(f64::total_cmp);
                let chunks = tile_rows.div_ceil(p.rows) * cout.div_ceil(p.k_block);
                println!(
                    "| {c}→{k} at {hw}² | {pass} | {name} | {} × {} | {chunks} | {:.2} |",
                    p.rows,
                    p.k_block,
                    ts[ts.len() / 2]
                );
            }
        }
    }
}
