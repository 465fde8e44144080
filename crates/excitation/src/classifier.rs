//! What the three model families share: an image classifier with gated layers and
//! torchvision-named weights.

use burn::module::Module;
use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::gate::Gated;

/// An image classifier taking images in [−1, 1] (ImageNet normalisation is applied inside).
pub trait Classifier: Module + Gated + Clone {
    /// Logits for images in [−1, 1].
    ///
    /// # Shapes
    /// - `images`: `[batch, 3, h, w]`; output: `[batch, num_classes]`.
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;

    /// Logits for ImageNet-normalised inputs (torchvision's own convention).
    ///
    /// # Shapes
    /// - `x`: `[batch, 3, h, w]`; output: `[batch, num_classes]`.
    fn forward_imagenet(&self, x: Tensor<4>) -> Tensor<2>;

    /// Number of logits.
    fn num_classes(&self) -> usize;

    /// Smallest input side the network accepts (every pooling window must fit).
    fn min_input_size(&self) -> usize;

    /// torchvision key for a burn parameter path (enum variants skipped), e.g. DenseNet's
    /// `features.blocks.0.layers.2.norm1.gamma`'s module path → `features.denseblock1.denselayer3.norm1`.
    /// The default is the identity (ResNet and VGG use torchvision's paths natively).
    fn torch_key(&self, burn_path: &str) -> String {
        burn_path.to_string()
    }

    /// Inverse of [`Classifier::torch_key`].
    fn burn_path(&self, torch_key: &str) -> String {
        torch_key.to_string()
    }

    /// Checks that `images` is `[batch ≥ 1, 3, h, w]` with h, w at least
    /// [`Classifier::min_input_size`].
    fn check_images(&self, dims: [usize; 4]) -> Result<()> {
        let [b, c, h, w] = dims;
        let min = self.min_input_size();
        if b == 0 || c != 3 || h < min || w < min {
            return Err(Error::InvalidShape {
                what: "images",
                found: dims.to_vec(),
                expected: format!("[batch ≥ 1, 3, h, w] with h, w ≥ {min}"),
            });
        }
        Ok(())
    }
}
