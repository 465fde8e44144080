//! Turning images of a [`Dataset`] into burn tensors.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{Augmentation, Dataset, SplitMix64};

/// A batch of images and labels on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Images scaled to `[-1, 1]`, `[N, C, H, W]`.
    pub images: Tensor<4>,
    /// Class indices, `[N]`.
    pub labels: Tensor<1, Int>,
}

/// Raw `u8` pixels → `f32` in `[-1, 1]` (`2·p/255 − 1`).
pub fn scale_pixel(p: u8) -> f32 {
    p as f32 * (2.0 / 255.0) - 1.0
}

/// Builds a tensor from raw images.
///
/// # Shapes
/// `pixels`: `n·c·h·w` bytes → `[n, c, h, w]` in `[-1, 1]`.
pub fn images_to_tensor(
    pixels: &[u8],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    device: &Device,
) -> Tensor<4> {
    assert_eq!(
        pixels.len(),
        n * c * h * w,
        "pixel buffer does not match n·c·h·w"
    );
    let data: Vec<f32> = pixels.iter().map(|&p| scale_pixel(p)).collect();
    Tensor::from_data(TensorData::new(data, [n, c, h, w]), device)
}

impl Dataset {
    /// The images at `indices` as a batch, augmented with `augment` (drawing from `rng`) if
    /// given.
    ///
    /// # Shapes
    /// Returns images `[indices.len(), C, H, W]` and labels `[indices.len()]`.
    pub fn batch(
        &self,
        indices: &[usize],
        augment: Option<(&Augmentation, &mut SplitMix64)>,
        device: &Device,
    ) -> Batch {
        let n = self.image_len();
        let mut pixels = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        let mut augment = augment;
        for &i in indices {
            let start = pixels.len();
            pixels.extend_from_slice(self.image(i));
            if let Some((aug, rng)) = augment.as_mut() {
                aug.apply(
                    &mut pixels[start..],
                    self.channels,
                    self.height,
                    self.width,
                    rng,
                );
            }
            labels.push(self.labels[i] as i64);
        }
        Batch {
            images: images_to_tensor(
                &pixels,
                indices.len(),
                self.channels,
                self.height,
                self.width,
                device,
            ),
            labels: Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
        }
    }
}
