//! Input flags shared by the image commands: `--images`, `--limit`, `--on-bad-image`,
//! `--batch-size`; reading the images and turning them into a tensor.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use clap::{Args, ValueEnum};
use excitation::imagenet::images::{self, ImageSet, OnBadImage, INPUT_SIZE};

use crate::error::{CliError, Result};

/// What to do with an unreadable image in a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BadImageChoice {
    /// Report it on stderr and in the summary, and go on.
    Skip,
    /// Stop with an error naming it.
    Fail,
}

/// Flags that choose the input images.
#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// An image (JPEG/PNG), a folder of images, or an ImageFolder tree (one sub-folder
    /// per class, as Imagenette's `val/`). Each image is resized as in the paper:
    /// square → 224×224, otherwise short side 256 then centre crop 224×224.
    #[arg(long, value_name = "PATH")]
    pub images: PathBuf,

    /// Use at most this many images (in sorted path order).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// What to do with an unreadable or corrupt image inside a folder.
    #[arg(long, value_enum, default_value = "skip")]
    pub on_bad_image: BadImageChoice,

    /// Images per forward/backward pass; bounds memory (a ResNet50 pullback takes roughly
    /// 0.2 GB per image on CPU).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch_size: usize,
}

impl ImageArgs {
    /// Read the images, reporting skipped ones on stderr.
    pub fn load(&self) -> Result<ImageSet> {
        if self.batch_size == 0 {
            return Err(CliError::flag("--batch-size", "must be at least 1"));
        }
        if self.limit == Some(0) {
            return Err(CliError::flag("--limit", "must be at least 1 (or leave it out)"));
        }
        let on_bad = match self.on_bad_image {
            BadImageChoice::Skip => OnBadImage::Skip,
            BadImageChoice::Fail => OnBadImage::Fail,
        };
        let set = images::load_images(&self.images, on_bad, self.limit)?;
        for (path, why) in &set.skipped {
            eprintln!("warning: skipped `{}`: {why}", path.display());
        }
        Ok(set)
    }
}

/// The images as a `[n, 3, 224, 224]` tensor on `device`.
///
/// # Shapes
/// Output `[n, 3, 224, 224]`.
pub fn to_tensor(set: &ImageSet, device: &Device) -> Tensor<4> {
    let n = set.images.len();
    Tensor::from_data(
        TensorData::new(set.batch(), [n, 3, INPUT_SIZE, INPUT_SIZE]),
        device,
    )
}
