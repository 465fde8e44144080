//! Times the pointwise (1×1) convolution of several images under different splits of its work
//! (`im2col::split_plan`): for each shape, the split `split_plan` chooses for this
//! pool's thread count and for other thread counts, and the images' GEMMs side by side with
//! their share of the threads each (`im2col::conv2d` before the split), in alternation, median
//! of `--repeats` runs each (ms).
//!
//! With `--sweep`, every split of a grid instead, on the calling thread's pool: output
//! channels per task halved from all of them down to 16, pixels per task halved from all of
//! them down to 16 (where to fit `split_plan`'s cost model with
//! `tools/bench/fit_split_plan.py`, from a run on one thread).
//!
//! ```sh
//! cargo build --release -p excitation --example bench_pointwise
//! RAYON_NUM_THREADS=16 target/release/examples/bench_pointwise [--batch N] [--repeats R] [--sweep]
//! ```

use std::time::Instant;

#[path = "common/split_bench.rs"]
mod split_bench;
use split_bench::{halvings, values};

use excitation::im2col::{self, pointwise_with_plan, split_plan, Geometry, SplitPlan};

/// One split to time: a plan, or `None` for the images side by side (`conv2d` on one image
/// at a time in parallel, as before the split).
type Split = (String, Option<SplitPlan>);

fn main() {
    let split_bench::Args {
        batch,
        repeats,
        sweep,
    } = split_bench::start("bench_pointwise");
    let threads = rayon::current_num_threads();
    println!("# bench_pointwise: batch {batch}, {threads} threads, median of {repeats} (ms)");
    println!("| conv | split | k_block × pixel_block | tasks | ms |");
    println!("|---|---|---|---|---|");
    // ResNet50's 1×1 layers (bottleneck in and out, at each resolution) and DenseNet121's
    // bottlenecks (C → 128) and transitions.
    for (c, k, hw) in [
        (256usize, 64usize, 56usize),
        (64, 256, 56),
        (512, 128, 28),
        (128, 512, 28),
        (1024, 256, 14),
        (256, 1024, 14),
        (2048, 512, 7),
        (512, 2048, 7),
        (256, 128, 56),
        (1024, 128, 14),
        (512, 128, 14),
        (1024, 128, 7),
    ] {
        let pixels = hw * hw;
        let x = values(batch * c * pixels, 1);
        let weight = values(k * c, 2);
        let shape = [batch, c, hw, hw];
        let mut splits: Vec<Split> = vec![
            (
                format!("plan({threads})"),
                Some(split_plan(batch, pixels, k, threads)),
            ),
            (format!("images side by side({threads})"), None),
        ];
        for other in [2, 8, 16] {
            if other != threads {
                let plan = split_plan(batch, pixels, k, other);
                splits.push((format!("plan({other})"), Some(plan)));
            }
        }
        if sweep {
            splits.clear();
            for k_block in halvings(k, 16) {
                for pixel_block in halvings(pixels, 16) {
                    let plan = SplitPlan {
                        k_block,
                        pixel_block,
                    };
                    splits.push(("grid".to_string(), Some(plan)));
                }
            }
        }
        // `conv2d` with the split switched off: the images' GEMMs side by side.
        let side_by_side = || {
            im2col::set_split(false);
            let y = im2col::conv2d(&x, shape, &weight, k, Geometry::POINTWISE, None, None).0;
            im2col::set_split(true);
            y
        };
        let mut times = vec![Vec::new(); splits.len()];
        let _awake = excitation::awake::keep_workers_awake();
        for _ in 0..repeats {
            for (i, (_, plan)) in splits.iter().enumerate() {
                let start = Instant::now();
                match plan {
                    Some(p) => {
                        std::hint::black_box(pointwise_with_plan(&x, shape, &weight, k, *p));
                    }
                    None => {
                        std::hint::black_box(side_by_side());
                    }
                }
                times[i].push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        for ((name, plan), mut ts) in splits.into_iter().zip(times) {
            ts.sort_by(f64::total_cmp);
            let (blocks, tasks) = match plan {
                Some(p) => (
                    format!("{} × {}", p.k_block, p.pixel_block),
                    (batch * k.div_ceil(p.k_block) * pixels.div_ceil(p.pixel_block)).to_string(),
                ),
                None => ("–".to_string(), batch.to_string()),
            };
            println!(
                "| {c}→{k} 1×1 at {hw}² | {name} | {blocks} | {tasks} | {:.2} |",
                ts[ts.len() / 2]
            );
        }
    }
}
