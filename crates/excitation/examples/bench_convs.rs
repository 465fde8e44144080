//! Micro-benchmark of the frozen convolutions of `excitation::conv_op` against burn's on flex:
//! for typical layer shapes of ResNet50, VGG11_BN and DenseNet121, the time of one forward
//! convolution and of one input gradient, median of 7 runs (ms), with the largest difference
//! between the two results relative to the largest value. Threads as in the `curtain` binary:
//! the main thread in rayon's pool, the other workers kept awake while a shape is timed.
//!
//! - 3×3, stride 1, padding 1: flex's `conv2d` (im2col + GEMM) and flex's
//!   `conv_transpose2d` (what burn's autodiff calls for the input gradient) against
//!   `winograd::conv3x3` (forward and input-gradient kernels);
//! - every shape: [`excitation::im2col::conv2d`] forward (the path `conv_op` takes for
//!   convolutions with few output pixels that Winograd does not take);
//! - 1×1: flex's `conv_transpose2d` against [`excitation::im2col::conv2d_input_gradient`]
//!   (the `Pointwise` path's input gradient, `Wᵀ · dy` per image; its forward is the im2col
//!   column, `W · x` per image on the image as it is).
//!
//! A second table times the classifiers' linear layers on one row (VGG11_BN's three,
//! ResNet50's and DenseNet121's): flex's `matmul` (`x·W`, and `g·Wᵀ` for the input gradient)
//! against [`excitation::linear_op`]'s split kernels, whatever `--batch` says (the split path
//! serves one row only).
//!
//! ```sh
//! cargo build --release -p excitation --example bench_convs
//! target/release/examples/bench_convs [--batch N]
//! ```

use std::time::Instant;

use burn::tensor::module::{conv2d, conv_transpose2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Distribution, Tensor};
use excitation::backend::{tensor_to_vec, BackendKind};
use excitation::im2col::{self, Geometry};
use excitation::linear_op;
use excitation::winograd::{conv3x3, Kernels};

/// Median of 7 runs of `f`, in ms (rayon's workers kept awake throughout, as in a pass of the
/// `curtain` binary: `excitation::awake`).
fn median_ms(f: &dyn Fn() -> f32) -> f64 {
    let _awake = excitation::awake::keep_workers_awake();
    let mut ts: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    ts[3]
}

/// Largest |a − b| relative to the largest |b|.
fn relative_difference(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn first(t: Tensor<4>) -> f32 {
    t.into_data().as_slice::<f32>().expect("f32")[0]
}

fn main() {
    // As the `curtain` binary: the main thread works in rayon's pool, whose other workers stay
    // awake while a shape is timed.
    if let Err(e) = excitation::backend::join_rayon_pool() {
        eprintln!("bench_convs: could not make the main thread a rayon worker: {e}");
        std::process::exit(2);
    }
    excitation::awake::set_enabled(true);
    let batch = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => 5,
        [flag, n] if flag == "--batch" => n.parse().unwrap_or_else(|_| {
            eprintln!("bench_convs: --batch needs a number, got `{n}`");
            std::process::exit(2)
        }),
        _ => {
            eprintln!("usage: bench_convs [--batch N]");
            std::process::exit(2)
        }
    };
    let device = BackendKind::Flex.device();
    // (in channels, out channels, kernel, spatial size): ResNet50's 3×3 and 1×1 layers,
    // VGG11_BN's, DenseNet121's bottleneck and growth convolutions. The same list as
    // `tools/bench/convs_torch.py` (PyTorch's side): keep them in step.
    let shapes = [
        (64, 64, 3, 56),
        (128, 128, 3, 28),
        (256, 256, 3, 14),
        (512, 512, 3, 7),
        (64, 128, 3, 112),
        (256, 256, 3, 56),
        (512, 512, 3, 14),
        (128, 32, 3, 56),
        (128, 32, 3, 14),
        (256, 64, 1, 56),
        (64, 256, 1, 56),
        (1024, 256, 1, 14),
        (512, 128, 1, 28),
        (1024, 128, 1, 14),
    ];
    println!("# bench_convs: flex, batch {batch}, median of 7 (ms)");
    println!("| conv | flex forward | frozen forward | im2col forward | flex input grad | frozen input grad | rel. diff |");
    println!("|---|---|---|---|---|---|---|");
    for (c, k, size, hw) in shapes {
        let pad = (size - 1) / 2;
        let x = Tensor::<4>::random([batch, c, hw, hw], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<4>::random([k, c, size, size], Distribution::Normal(0.0, 0.1), &device);
        let options = ConvOptions::new([1, 1], [pad, pad], [1, 1], 1);
        let transpose = ConvTransposeOptions::new([1, 1], [pad, pad], [0, 0], [1, 1], 1);
        let g = Tensor::<4>::random([batch, k, hw, hw], Distribution::Normal(0.0, 1.0), &device);
        let flex_forward =
            median_ms(&|| first(conv2d(x.clone(), w.clone(), None, options.clone())));
        let flex_grad = median_ms(&|| {
            first(conv_transpose2d(
                g.clone(),
                w.clone(),
                None,
                transpose.clone(),
            ))
        });
        let im2col_forward = {
            let xs = tensor_to_vec(x.clone()).expect("f32 values");
            let ws = tensor_to_vec(w.clone()).expect("f32 values");
            let geometry = Geometry {
                kernel: [size, size],
                stride: [1, 1],
                padding: [pad, pad],
            };
            median_ms(&|| {
                im2col::conv2d(&xs, [batch, c, hw, hw], &ws, k, geometry, None, None).0[0]
            })
        };
        let want = tensor_to_vec(conv_transpose2d(
            g.clone(),
            w.clone(),
            None,
            transpose.clone(),
        ))
        .expect("f32 values");
        let (frozen_forward, frozen_grad, got) = if size == 3 {
            let xs = tensor_to_vec(x.clone()).expect("f32 values");
            let ws = tensor_to_vec(w.clone()).expect("f32 values");
            let gs = tensor_to_vec(g.clone()).expect("f32 values");
            let shape_x = [batch, c, hw, hw];
            let shape_g = [batch, k, hw, hw];
            let forward =
                median_ms(&|| conv3x3(&xs, shape_x, &ws, k, Kernels::Forward, None, None)[0]);
            let grad =
                median_ms(&|| conv3x3(&gs, shape_g, &ws, c, Kernels::InputGradient, None, None)[0]);
            let got = conv3x3(&gs, shape_g, &ws, c, Kernels::InputGradient, None, None);
            (format!("{forward:.1}"), grad, got)
        } else {
            // The Pointwise path: im2col's GEMM on the image as it is, both ways.
            let ws = tensor_to_vec(w.clone()).expect("f32 values");
            let gs = tensor_to_vec(g.clone()).expect("f32 values");
            let geometry = Geometry::POINTWISE;
            let shape_g = [batch, k, hw, hw];
            let gradient =
                || im2col::conv2d_input_gradient(&gs, shape_g, &ws, [c, hw, hw], geometry, None);
            let grad = median_ms(&|| gradient()[0]);
            ("(im2col's)".to_string(), grad, gradient())
        };
        println!(
            "| {c}→{k} {size}×{size} at {hw}² | {flex_forward:.1} | {frozen_forward} | {im2col_forward:.1} | {flex_grad:.1} | {frozen_grad:.1} | {:.1e} |",
            relative_difference(&got, &want)
        );
    }
    linear_layers(&device);
}

/// The second table: the classifiers' linear layers on one row (see the module docs).
fn linear_layers(device: &burn::tensor::Device) {
    // (d_in, d_out): VGG11_BN's classifier.0, .3, .6, ResNet50's fc, DenseNet121's classifier.
    // The same list as `tools/bench/convs_torch.py`: keep them in step.
    let shapes = [
        (25088, 4096),
        (4096, 4096),
        (4096, 1000),
        (2048, 1000),
        (1024, 1000),
    ];
    println!();
    println!("# bench_convs: linear layers on one row, median of 7 (ms)");
    println!("| linear | flex forward | split forward | flex input grad | split input grad | rel. diff |");
    println!("|---|---|---|---|---|---|");
    for (d_in, d_out) in shapes {
        let x = Tensor::<2>::random([1, d_in], Distribution::Normal(0.0, 1.0), device);
        let w = Tensor::<2>::random([d_in, d_out], Distribution::Normal(0.0, 0.01), device);
        let g = Tensor::<2>::random([1, d_out], Distribution::Normal(0.0, 1.0), device);
        let first2 = |t: Tensor<2>| t.into_data().as_slice::<f32>().expect("f32")[0];
        let flex_forward = median_ms(&|| first2(x.clone().matmul(w.clone())));
        let flex_grad = median_ms(&|| first2(g.clone().matmul(w.clone().transpose())));
        let (xs, ws, gs) = (
            tensor_to_vec(x.clone()).expect("f32 values"),
            tensor_to_vec(w.clone()).expect("f32 values"),
            tensor_to_vec(g.clone()).expect("f32 values"),
        );
        let shape = [d_in, d_out];
        let split_forward = median_ms(&|| linear_op::row_times_matrix(&xs, &ws, shape, None)[0]);
        let split_grad = median_ms(&|| linear_op::matrix_times_row(&ws, &gs, shape)[0]);
        let want = tensor_to_vec(g.clone().matmul(w.clone().transpose())).expect("f32 values");
        let got = linear_op::matrix_times_row(&ws, &gs, shape);
        println!(
            "| {d_in}→{d_out} | {flex_forward:.2} | {split_forward:.2} | {flex_grad:.2} | {split_grad:.2} | {:.1e} |",
            relative_difference(&got, &want)
        );
    }
}
