//! `excitation::profile` (the per-kind timing behind `bench_models --profile`), in a process of
//! its own: its totals are global, so other tests running beside it would add to them.

use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use excitation::backend::BackendKind;
use excitation::gate::GradientMode;
use excitation::profile::{self, Kind};
use excitation::pullback::{excitation_pullback, Targets};
use excitation::resnet::{BlockKind, ResNetConfig};
use excitation::synthetic::synthetic_images;

/// Off, nothing is counted; on, one excitation pullback of a tiny bottleneck ResNet counts each
/// gate, pool and frozen convolution once forward and once backward, and the timed operations
/// take no longer than the pass.
#[test]
fn profile_counts_each_operation_of_a_pullback() {
    let device = BackendKind::Flex.device();
    let ad = BackendKind::Flex.autodiff_device();
    let model = ResNetConfig::tiny(BlockKind::Bottleneck)
        .init(&device, GradientMode::Vanilla)
        .unwrap();
    let shape = [2, 3, 32, 32];
    let images = Tensor::<4>::from_data(TensorData::new(synthetic_images(shape), shape), &device);
    let targets = Targets::PerImage(vec![1, 7]);
    let pullback = || {
        excitation_pullback(
            &model,
            GradientMode::paper(),
            images.clone(),
            &targets,
            2,
            &ad,
        )
        .unwrap()
    };

    pullback();
    let totals = profile::take();
    assert!(
        totals.iter().all(|t| t.calls == 0 && t.seconds == 0.0),
        "{totals:?}"
    );

    profile::set_enabled(true);
    let start = Instant::now();
    pullback();
    let wall = start.elapsed().as_secs_f64();
    let totals = profile::take();
    profile::set_enabled(false);

    assert_eq!(totals.len(), Kind::ALL.len());
    let calls = |kind: Kind| totals.iter().find(|t| t.kind == kind).unwrap().calls;
    // torchvision's Bottleneck applies its one ReLU module three times; the stem applies one.
    let blocks = 4;
    assert_eq!(calls(Kind::Gate), 1 + 3 * blocks);
    assert_eq!(calls(Kind::GateGrad), 1 + 3 * blocks);
    assert_eq!((calls(Kind::MaxPool), calls(Kind::MaxPoolGrad)), (1, 1));
    // The residual sums, and BatchNorms not folded into a frozen convolution, once each way.
    assert!(calls(Kind::Elementwise) >= blocks, "{totals:?}");
    assert_eq!(calls(Kind::ElementwiseGrad), calls(Kind::Elementwise));
    // Every frozen convolution: its input gradient once for each forward.
    let winograd = calls(Kind::ConvWinograd);
    let im2col = calls(Kind::ConvIm2col);
    assert_eq!(calls(Kind::ConvWinogradGrad), winograd);
    assert_eq!(calls(Kind::ConvIm2colGrad), im2col);
    assert!(winograd + im2col > 0, "{totals:?}");
    // No linear layer on one row here (the classifier sees two images).
    assert_eq!((calls(Kind::Linear), calls(Kind::LinearGrad)), (0, 0));
    let timed: f64 = totals.iter().map(|t| t.seconds).sum();
    assert!(
        timed > 0.0 && timed <= wall,
        "timed {timed} s in a pass of {wall} s"
    );
    // The names of a report are distinct.
    let mut names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), Kind::ALL.len());
}
