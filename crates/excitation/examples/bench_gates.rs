//! Micro-benchmark of the excitation layers alone (flex, autodiff): forward + backward +
//! reading the input gradient, median of 5 runs, repeated in alternating rounds.
//!
//! - the max-pool on VGG11_BN's first pool input `[5, 64, 224, 224]` (2×2, stride 2) and on
//!   ResNet50's stem pool input `[5, 64, 112, 112]` (3×3, stride 2, padding 1): burn's own
//!   `max_pool2d`, vanilla as one operation (`max_pool::hard_max_pool2d`, which takes
//!   `excitation::pool_op` on flex), excitation as one operation, excitation straight-through
//!   (`max_pool::straight_through_max_pool2d`);
//! - the gated ReLU on `[5, 256, 56, 56]`: vanilla, one operation (`excitation::gate_op`),
//!   straight-through (`relu::straight_through_relu`);
//! - eval BatchNorm on `[5, 256, 56, 56]`: burn's `BatchNorm::forward` against
//!   `batch_norm::batch_norm_inference` (one affine map per channel).
//!
//! ```sh
//! cargo build --release -p excitation --example bench_gates
//! target/release/examples/bench_gates [--rounds N]
//! ```

use std::time::Instant;

use burn::module::Module;
use burn::nn::BatchNormConfig;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Distribution, Tensor};
use excitation::backend::BackendKind;
use excitation::batch_norm::batch_norm_inference;
use excitation::gate::{GradientMode, Sigma};
use excitation::max_pool::{hard_max_pool2d, straight_through_max_pool2d};
use excitation::pool_op::excitation_max_pool2d;
use excitation::relu::{gated_relu, straight_through_relu};

/// Median time in ms of 5 runs of `f` (forward) + backward of its sum + reading the gradient.
fn time(x0: &Tensor<4>, f: &dyn Fn(Tensor<4>) -> Tensor<4>) -> f64 {
    let mut ts: Vec<f64> = (0..5)
        .map(|_| {
            let x = x0.clone().require_grad();
            let start = Instant::now();
            let grads = f(x.clone()).sum().backward();
            let _ = x.grad(&grads).expect("input gradient").into_data();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    ts[2]
}

/// burn's own max-pool (flex's kernel, which also computes an index per output).
fn burn_max_pool(x: Tensor<4>, k: usize, s: usize, p: usize) -> Tensor<4> {
    max_pool2d(
        x,
        MaxPoolOptions::new([k, k])
            .with_stride([s, s])
            .with_padding([p, p]),
    )
}

/// One timed layer: input in, output out (recorded on the autodiff device).
type Layer<'a> = Box<dyn Fn(Tensor<4>) -> Tensor<4> + 'a>;

fn main() {
    let rounds = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => 3,
        [flag, n] if flag == "--rounds" => n.parse().unwrap_or_else(|_| {
            eprintln!("bench_gates: --rounds needs a number, got `{n}`");
            std::process::exit(2)
        }),
        _ => {
            eprintln!("usage: bench_gates [--rounds N]");
            std::process::exit(2)
        }
    };
    let dev = BackendKind::Flex.autodiff_device();
    let t = 0.3;
    let pool_in = Tensor::<4>::random([5, 64, 224, 224], Distribution::Default, &dev);
    let stem = Tensor::<4>::random([5, 64, 112, 112], Distribution::Normal(0.0, 1.0), &dev);
    let act = Tensor::<4>::random([5, 256, 56, 56], Distribution::Normal(0.0, 1.0), &dev);
    let bn = BatchNormConfig::new(256).init(&dev).no_grad().valid();
    let relu_mode = GradientMode::excitation(Sigma::Sigmoid, t).expect("valid temperature");
    let cases: Vec<(&str, &Tensor<4>, Layer<'_>)> = vec![
        (
            "pool 2x2 burn's max_pool2d",
            &pool_in,
            Box::new(|x| burn_max_pool(x, 2, 2, 0)),
        ),
        (
            "pool 2x2 vanilla, one op",
            &pool_in,
            Box::new(|x| hard_max_pool2d(x, 2, 2, 0)),
        ),
        (
            "pool 2x2 excitation, one op",
            &pool_in,
            Box::new(move |x| excitation_max_pool2d(x, 2, 2, 0, t)),
        ),
        (
            "pool 2x2 excitation, straight-through",
            &pool_in,
            Box::new(move |x| straight_through_max_pool2d(x, 2, 2, 0, t)),
        ),
        (
            "pool 3x3/s2/p1 burn's max_pool2d",
            &stem,
            Box::new(|x| burn_max_pool(x, 3, 2, 1)),
        ),
        (
            "pool 3x3/s2/p1 vanilla, one op",
            &stem,
            Box::new(|x| hard_max_pool2d(x, 3, 2, 1)),
        ),
        (
            "pool 3x3/s2/p1 excitation, one op",
            &stem,
            Box::new(move |x| excitation_max_pool2d(x, 3, 2, 1, t)),
        ),
        (
            "pool 3x3/s2/p1 excitation, straight-through",
            &stem,
            Box::new(move |x| straight_through_max_pool2d(x, 3, 2, 1, t)),
        ),
        (
            "relu vanilla",
            &act,
            Box::new(|x| gated_relu(x, GradientMode::Vanilla)),
        ),
        (
            "relu excitation, one op",
            &act,
            Box::new(move |x| gated_relu(x, relu_mode)),
        ),
        (
            "relu excitation, straight-through",
            &act,
            Box::new(move |x| straight_through_relu(x, Sigma::Sigmoid, t)),
        ),
        ("batchnorm burn", &act, Box::new(|x| bn.forward(x))),
        (
            "batchnorm affine",
            &act,
            Box::new(|x| batch_norm_inference(&bn, x)),
        ),
    ];
    println!("# bench_gates: flex, median of 5 per round, {rounds} rounds (ms)");
    let mut table: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (row, (_, x, f)) in table.iter_mut().zip(&cases) {
            row.push(time(x, f.as_ref()));
        }
    }
    for ((name, _, _), row) in cases.iter().zip(&table) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:.1}")).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
