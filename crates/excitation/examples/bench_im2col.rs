//! Micro-benchmark of `excitation::im2col` against flex, for ResNet50's strided layers, its
//! 3×3 layers too small for Winograd at batch 1 and the RGB input layers (ResNet50's and
//! DenseNet121's 7×7 stem, VGG11_BN's first 3×3) — the convolutions `conv_op`'s im2col path
//! takes: the forward convolution (flex's `conv2d` against `im2col::conv2d`) and the input
//! gradient (flex's transposed convolution, what burn's autodiff calls, against
//! `im2col::conv2d_input_gradient`). Median of 9 runs (ms), batch 1 and 5, with the largest
//! difference between the two input gradients.
//!
//! ```sh
//! cargo build --release -p excitation --example bench_im2col
//! target/release/examples/bench_im2col
//! ```

use burn::tensor::module::{conv2d, conv_transpose2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Distribution, Tensor};
use excitation::backend::{tensor_to_vec, BackendKind};
use excitation::im2col::{self, conv2d_input_gradient, Geometry};
use std::time::Instant;

/// Median of 9 runs of `f`, in ms.
fn median_ms(f: &dyn Fn() -> f32) -> f64 {
    let mut v: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[4]
}

fn main() {
    let device = BackendKind::Flex.device();
    for batch in [1usize, 5] {
        for (c, k, ks, s, p, h) in [
            (128, 128, 3, 2, 1, 56),
            (256, 256, 3, 2, 1, 28),
            (512, 512, 3, 2, 1, 14),
            (256, 512, 1, 2, 0, 56),
            (512, 1024, 1, 2, 0, 28),
            (1024, 2048, 1, 2, 0, 14),
            (256, 256, 3, 1, 1, 14),
            (512, 512, 3, 1, 1, 7),
            (3, 64, 7, 2, 3, 224),
            (3, 64, 3, 1, 1, 224),
        ] {
            let g = Geometry {
                kernel: [ks, ks],
                stride: [s, s],
                padding: [p, p],
            };
            let [oh, ow] = g.output_size([h, h]).unwrap();
            let w = Tensor::<4>::random([k, c, ks, ks], Distribution::Normal(0.0, 0.1), &device);
            let dy =
                Tensor::<4>::random([batch, k, oh, ow], Distribution::Normal(0.0, 1.0), &device);
            let pad_out = (h + 2 * p).saturating_sub((oh - 1) * s + ks);
            let opt = ConvTransposeOptions::new([s, s], [p, p], [pad_out, pad_out], [1, 1], 1);
            let flex = median_ms(&|| {
                tensor_to_vec(conv_transpose2d(dy.clone(), w.clone(), None, opt.clone())).unwrap()
                    [0]
            });
            let ws = tensor_to_vec(w.clone()).unwrap();
            let dys = tensor_to_vec(dy.clone()).unwrap();
            let x = Tensor::<4>::random([batch, c, h, h], Distribution::Normal(0.0, 1.0), &device);
            let xs = tensor_to_vec(x.clone()).unwrap();
            let conv_options = ConvOptions::new([s, s], [p, p], [1, 1], 1);
            let flex_forward = median_ms(&|| {
                tensor_to_vec(conv2d(x.clone(), w.clone(), None, conv_options.clone())).unwrap()[0]
            });
            let im2col_forward =
                median_ms(&|| im2col::conv2d(&xs, [batch, c, h, h], &ws, k, g, None, None).0[0]);
            let ours = median_ms(&|| {
                conv2d_input_gradient(&dys, [batch, k, oh, ow], &ws, [c, h, h], g, None)[0]
            });
            let a =
                tensor_to_vec(conv_transpose2d(dy.clone(), w.clone(), None, opt.clone())).unwrap();
            let b = conv2d_input_gradient(&dys, [batch, k, oh, ow], &ws, [c, h, h], g, None);
            let err = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            println!(
                "b{batch} {c}->{k} {ks}x{ks} s{s} at {h}: forward flex {flex_forward:.2} ms, \
                 im2col {im2col_forward:.2} ms; input gradient flex {flex:.2} ms, im2col \
                 {ours:.2} ms, maxdiff {err:.1e}"
            );
        }
    }
}
