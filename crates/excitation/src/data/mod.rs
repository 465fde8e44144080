//! Image classification data sets for the gate-stability experiments (Sec. 5 of the paper):
//! Fashion-MNIST in IDX format and CIFAR-10 in its binary format, seeded augmentation, and
//! batching into burn tensors.
//!
//! Images are stored as `u8` in `[N, C, H, W]` order and turned into `f32` in `[-1, 1]`
//! (`2·x/255 − 1`, the range the reference code's projected gradient ascent clips to) when
//! a batch is made.

pub mod augment;
pub mod batch;
pub mod cifar;
pub mod fetch;
pub mod idx;
pub mod md5;

use crate::experiment_error::{ExperimentError, ExperimentResult};

pub use augment::{Augmentation, SplitMix64};
pub use batch::{images_to_tensor, Batch};
pub use cifar::{cifar10, CIFAR10_CLASSES};
pub use idx::{fashion_mnist, FASHION_MNIST_CLASSES, FASHION_MNIST_DEFAULT_DIR};

/// Which part of a data set to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training images.
    Train,
    /// The held-out test images.
    Test,
}

/// An in-memory labelled image data set.
///
/// # Shapes
/// `pixels` holds `len() · channels · height · width` bytes in `[N, C, H, W]` order;
/// `labels` holds `len()` class indices below `class_names.len()`.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Raw pixel values, `[N, C, H, W]`.
    pub pixels: Vec<u8>,
    /// Class index of each image.
    pub labels: Vec<u8>,
    /// Channels per image (1 for Fashion-MNIST, 3 for CIFAR-10).
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Human-readable class names.
    pub class_names: &'static [&'static str],
}

impl Dataset {
    /// Checks that the buffers agree with the stated sizes.
    pub fn new(
        pixels: Vec<u8>,
        labels: Vec<u8>,
        channels: usize,
        height: usize,
        width: usize,
        class_names: &'static [&'static str],
    ) -> ExperimentResult<Self> {
        let per = channels * height * width;
        if per == 0 || pixels.len() != labels.len() * per {
            return Err(ExperimentError::Shape(format!(
                "{} pixel bytes for {} labels of {channels}×{height}×{width} images",
                pixels.len(),
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= class_names.len()) {
            return Err(ExperimentError::Shape(format!(
                "label {bad} but only {} classes",
                class_names.len()
            )));
        }
        Ok(Self {
            pixels,
            labels,
            channels,
            height,
            width,
            class_names,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the data set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image, `C·H·W`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The raw pixels of image `i`, `[C, H, W]`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// A new data set holding the images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> ExperimentResult<Self> {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            if i >= self.len() {
                return Err(ExperimentError::Shape(format!(
                    "index {i} out of range for a data set of {} images",
                    self.len()
                )));
            }
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Self::new(
            pixels,
            labels,
            self.channels,
            self.height,
            self.width,
            self.class_names,
        )
    }

    /// The first `n` images (all of them if `n ≥ len()`).
    pub fn take(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self {
            pixels: self.pixels[..n * self.image_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
            ..self.clone_header()
        }
    }

    fn clone_header(&self) -> Self {
        Self {
            pixels: Vec::new(),
            labels: Vec::new(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            class_names: self.class_names,
        }
    }
}

/// The data sets the experiments know by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// Zalando's Fashion-MNIST, 28×28 grey.
    FashionMnist,
    /// CIFAR-10, 32×32 colour.
    Cifar10,
}

impl DatasetKind {
    /// Parses `fashion-mnist` or `cifar10`.
    pub fn parse(name: &str) -> ExperimentResult<Self> {
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "fashion-mnist" | "fashionmnist" | "fmnist" => Ok(Self::FashionMnist),
            "cifar10" | "cifar-10" => Ok(Self::Cifar10),
            other => Err(ExperimentError::Config(format!(
                "unknown data set `{other}`; expected `fashion-mnist` or `cifar10`"
            ))),
        }
    }

    /// The canonical name (`fashion-mnist`, `cifar10`).
    pub fn name(self) -> &'static str {
        match self {
            Self::FashionMnist => "fashion-mnist",
            Self::Cifar10 => "cifar10",
        }
    }

    /// Loads a split from `dir`.
    pub fn load(self, dir: &std::path::Path, split: Split) -> ExperimentResult<Dataset> {
        match self {
            Self::FashionMnist => fashion_mnist(dir, split),
            Self::Cifar10 => cifar10(dir, split),
        }
    }

    /// Padding of the random crop used to augment this data set.
    pub fn crop_padding(self) -> usize {
        match self {
            Self::FashionMnist => 2,
            Self::Cifar10 => 4,
        }
    }
}
