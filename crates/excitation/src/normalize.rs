//! Input normalisation inside the models: images in [−1, 1] are mapped to [0, 1] and then
//! normalised with ImageNet's mean and standard deviation, exactly as the paper's
//! `FromMyNormalizeToImageNet` module: `((x + 1)/2 − mean)/std`, channel by channel.

use burn::tensor::{Tensor, TensorData};

/// ImageNet channel means (RGB), as torchvision's `Normalize`.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// `((x + 1)/2 − mean)/std` per channel.
///
/// # Shapes
/// - `images`: `[batch, 3, h, w]` with values in [−1, 1]; output: same shape.
///
/// # Panics
/// If the input does not have 3 channels (models check shapes before calling).
#[track_caller]
pub fn from_signed_unit_to_imagenet(images: Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = images.dims();
    assert_eq!(c, 3, "images must have 3 channels (RGB), got {c}");
    let device = images.device();
    let mean = Tensor::<4>::from_data(
        TensorData::new(IMAGENET_MEAN.to_vec(), [1, 3, 1, 1]),
        &device,
    );
    let std = Tensor::<4>::from_data(
        TensorData::new(IMAGENET_STD.to_vec(), [1, 3, 1, 1]),
        &device,
    );
    ((images.add_scalar(1.0).div_scalar(2.0)) - mean) / std
}

/// Inverse of [`from_signed_unit_to_imagenet`]: ImageNet-normalised tensors back to [−1, 1].
///
/// # Shapes
/// - `x`: `[batch, 3, h, w]`; output: same shape.
#[track_caller]
pub fn from_imagenet_to_signed_unit(x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let mean = Tensor::<4>::from_data(
        TensorData::new(IMAGENET_MEAN.to_vec(), [1, 3, 1, 1]),
        &device,
    );
    let std = Tensor::<4>::from_data(
        TensorData::new(IMAGENET_STD.to_vec(), [1, 3, 1, 1]),
        &device,
    );
    (x * std + mean).mul_scalar(2.0).sub_scalar(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};

    #[test]
    fn normalisation_matches_formula_and_inverts() {
        let dev = BackendKind::Flex.device();
        let x: Vec<f32> = vec![-1.0, 0.0, 1.0, 0.5, -0.25, 0.75];
        let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 3, 1, 2]), &dev);
        let y = tensor_to_vec(from_signed_unit_to_imagenet(t.clone())).unwrap();
        for c in 0..3 {
            for j in 0..2 {
                let v = x[c * 2 + j];
                let want = ((v + 1.0) / 2.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
                assert!((y[c * 2 + j] - want).abs() < 1e-6);
            }
        }
        let back = tensor_to_vec(from_imagenet_to_signed_unit(from_signed_unit_to_imagenet(
            t,
        )))
        .unwrap();
        for (a, b) in back.iter().zip(&x) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
