//! Input flags shared by the image commands: `--images`, `--limit`, `--on-bad-image`,
//! `--batch-size`; reading the images and turning them into a tensor.

use std::collections::HashMap;
use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use clap::{Args, ValueEnum};
use excitation::imagenet::images::{self, ImageSet, INPUT_SIZE};

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
    /// Images (JPEG/PNG), folders of images, or ImageFolder trees (one sub-folder per
    /// class, as Imagenette's `val/`); several may follow the flag (a shell glob such as
    /// `examples/[02468]_*.jpg` works). Each image is resized as in the paper: square →
    /// 224×224, otherwise short side 256 then centre crop 224×224.
    #[arg(long, value_name = "PATH", num_args = 1.., required = true)]
    pub images: Vec<PathBuf>,

    /// Use at most this many images in all (in the order given, folders sorted).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Use at most this many images from each folder, e.g. `--per-folder 1` on Imagenette's
    /// `val/` gives one image of each of its ten classes.
    #[arg(long, value_name = "N")]
    pub per_folder: Option<usize>,

    /// What to do with an unreadable or corrupt image inside a folder (a file named
    /// directly always fails).
    #[arg(long, value_enum, default_value = "skip")]
    pub on_bad_image: BadImageChoice,

    /// Images per forward/backward pass; bounds memory (a ResNet50 pullback takes roughly
    /// 0.2 GB per image on CPU).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch_size: usize,
}

impl ImageArgs {
    /// The files to read, in order, with their class folder: every `--images` path listed
    /// (folders sorted), capped by `--per-folder` and `--limit`.
    fn files(&self) -> Result<Vec<(PathBuf, Option<String>, bool)>> {
        let mut files = Vec::new();
        for path in &self.images {
            let named_directly = path.is_file();
            let mut per_folder: HashMap<PathBuf, usize> = HashMap::new();
            for (file, folder) in images::list_images(path)? {
                let parent = file.parent().map(PathBuf::from).unwrap_or_default();
                let count = per_folder.entry(parent).or_default();
                if self.per_folder.is_some_and(|cap| *count >= cap) {
                    continue;
                }
                *count += 1;
                files.push((file, folder, named_directly));
            }
        }
        if let Some(limit) = self.limit {
            files.truncate(limit);
        }
        Ok(files)
    }

    /// Read the images, reporting skipped ones on stderr.
    pub fn load(&self) -> Result<ImageSet> {
        if self.batch_size == 0 {
            return Err(CliError::flag("--batch-size", "must be at least 1"));
        }
        if self.limit == Some(0) {
            return Err(CliError::flag(
                "--limit",
                "must be at least 1 (or leave it out)",
            ));
        }
        if self.per_folder == Some(0) {
            return Err(CliError::flag(
                "--per-folder",
                "must be at least 1 (or leave it out)",
            ));
        }
        let mut set = ImageSet::default();
        for (file, folder, named_directly) in self.files()? {
            match images::load_image(&file) {
                Ok(mut img) => {
                    img.folder = folder;
                    set.images.push(img);
                }
                Err(e) if self.on_bad_image == BadImageChoice::Skip && !named_directly => {
                    eprintln!("warning: skipped `{}`: {e}", file.display());
                    set.skipped.push((file, e.to_string()));
                }
                Err(e) => return Err(e.into()),
            }
        }
        if set.images.is_empty() {
            return Err(CliError::flag(
                "--images",
                format!(
                    "no readable image among the {} file(s) found; check the paths, or use \
                     --on-bad-image fail to see why each one fails",
                    set.skipped.len()
                ),
            ));
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
