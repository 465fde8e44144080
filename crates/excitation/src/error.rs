//! Errors of the scaling crate: one enum, values in every message.
//!
//! The former per-module enums (`SyntheticError`, `ImageError`, `ClassError`,
//! `DownloadError`, `ExperimentError`) are variants of [`Error`] now; `ExperimentError` and
//! `ExperimentResult` remain as aliases (`experiment_error`).

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// One problem found while matching a weight file against a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightProblem {
    /// The model needs this key but the file does not have it.
    Missing {
        /// torchvision key, e.g. `layer1.0.conv1.weight`.
        key: String,
        /// Shape the model expects (torchvision layout).
        expected: Vec<usize>,
    },
    /// The file has this key but the model has no such tensor.
    Unexpected {
        /// Key as found in the file.
        key: String,
        /// Shape found in the file.
        found: Vec<usize>,
    },
    /// Both have the key but the shapes differ.
    Shape {
        /// torchvision key.
        key: String,
        /// Shape found in the file.
        found: Vec<usize>,
        /// Shape the model expects (torchvision layout).
        expected: Vec<usize>,
    },
    /// The tensor has a data type that cannot be converted to f32.
    Dtype {
        /// torchvision key.
        key: String,
        /// Data type found in the file.
        found: String,
    },
}

impl std::fmt::Display for WeightProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { key, expected } => {
                write!(f, "missing `{key}` (expected shape {expected:?})")
            }
            Self::Unexpected { key, found } => {
                write!(
                    f,
                    "unexpected `{key}` (shape {found:?}) has no place in the model"
                )
            }
            Self::Shape {
                key,
                found,
                expected,
            } => write!(f, "`{key}` has shape {found:?}, expected {expected:?}"),
            Self::Dtype { key, found } => {
                write!(f, "`{key}` has data type {found}, expected a float type")
            }
        }
    }
}

fn list_problems(problems: &[WeightProblem]) -> String {
    // A few of each kind, so a file for another model shows both what is missing and
    // what is extra.
    const SHOWN_PER_KIND: usize = 6;
    let kind = |p: &WeightProblem| match p {
        WeightProblem::Missing { .. } => 0,
        WeightProblem::Unexpected { .. } => 1,
        WeightProblem::Shape { .. } => 2,
        WeightProblem::Dtype { .. } => 3,
    };
    let mut counts = [0usize; 4];
    let mut s = String::new();
    for p in problems {
        let k = kind(p);
        counts[k] += 1;
        if counts[k] <= SHOWN_PER_KIND {
            s.push_str("\n  - ");
            s.push_str(&p.to_string());
        }
    }
    let hidden: usize = counts
        .iter()
        .map(|c| c.saturating_sub(SHOWN_PER_KIND))
        .sum();
    if hidden > 0 {
        s.push_str(&format!("\n  … and {hidden} more"));
    }
    s.push_str(&format!(
        "\n  ({} missing, {} unexpected, {} wrong shape, {} wrong type)",
        counts[0], counts[1], counts[2], counts[3]
    ));
    if counts[0] > 0 && counts[1] > 0 {
        s.push_str(
            "\n  Keys both missing and unexpected usually mean the file is for another \
             architecture: check the model name (e.g. --model) against the checkpoint.",
        );
    }
    s
}

/// Errors of the `excitation` crate: models and weights, synthetic weights, ImageNet images and
/// class names, downloads, and the experiment side (data sets, small networks, training,
/// checkpoints). Every message names the value at fault and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- arguments and configuration ---------------------------------------------------
    /// A temperature that is not a finite positive number.
    #[error("temperature must be finite and > 0, got {0}")]
    InvalidTemperature(f64),

    /// A gradient-mode or σ name that is not known.
    #[error("unknown {what} `{name}`; expected one of: {expected}")]
    UnknownName {
        /// What was being parsed ("backend", "sigma", "gradient mode", "model").
        what: &'static str,
        /// The name given.
        name: String,
        /// The accepted names.
        expected: String,
    },

    /// A model, training or experiment configuration that cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A tensor argument with the wrong shape.
    #[error("{what} has shape {found:?}, expected {expected}")]
    InvalidShape {
        /// Which argument.
        what: &'static str,
        /// Shape given.
        found: Vec<usize>,
        /// Description of the accepted shapes.
        expected: String,
    },

    /// Tensor shapes that do not fit together (described in words).
    #[error("shape mismatch: {0}")]
    Shape(String),

    /// A class index outside the model's outputs.
    #[error("class index {class} is out of range: the model has {num_classes} classes")]
    InvalidClass {
        /// The class given.
        class: usize,
        /// The number of logits.
        num_classes: usize,
    },

    /// An invalid option (batch size, step count, radius, URL, cache file name…).
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// A backend that was not compiled in or could not start.
    #[error("backend `{name}` is not available: {reason}")]
    BackendUnavailable {
        /// Backend name.
        name: String,
        /// Why, and how to fix it.
        reason: String,
    },

    /// A parameter too large for one buffer binding of the GPU driver (wgpu).
    #[error(
        "`{what}` (shape {shape:?}, {bytes} bytes) is larger than the {limit} bytes that this GPU \
         driver binds in one buffer (wgpu's `max_storage_buffer_binding_size`): run this model \
         on a CPU backend (`--device flex` in `curtain`), or on a GPU whose driver allows larger \
         bindings (NVIDIA's and AMD's Vulkan drivers allow about 4 GiB; Mesa's software \
         lavapipe 128 MiB)"
    )]
    TooLargeForDevice {
        /// The parameter, in torchvision's naming.
        what: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Its size in bytes (f32).
        bytes: u64,
        /// The driver's limit in bytes.
        limit: u64,
    },

    /// Reading a tensor back from a device failed.
    #[error("cannot read tensor data back from the device: {0}")]
    TensorRead(String),

    // --- files ---------------------------------------------------------------------------
    /// An I/O error on a file or folder.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    // --- weights ---------------------------------------------------------------------------
    /// A file that is neither a PyTorch checkpoint nor a safetensors file.
    #[error("`{path}` is not a weight file: {reason}")]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },

    /// A weight file that starts like a checkpoint but cannot be read (truncated, corrupt).
    #[error("`{path}` is corrupt or truncated: {reason}")]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// The reader's message.
        reason: String,
    },

    /// Keys or shapes of a weight file do not match the model.
    #[error("weights in `{path}` do not match the model ({} problem(s)):{}", problems.len(), list_problems(problems))]
    WeightMismatch {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<WeightProblem>,
    },

    /// Writing a weight file failed.
    #[error("cannot write weights to `{path}`: {reason}")]
    WriteWeights {
        /// The file (`<memory>` when serialising to bytes).
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// A training checkpoint or exported model that cannot be read or written.
    #[error("checkpoint `{path}`: {reason}")]
    Checkpoint {
        /// The checkpoint file or folder.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    // --- synthetic weights (`synthetic`) -----------------------------------------------------
    /// A state-dict key that the synthetic formula has no rule for.
    #[error(
        "no synthetic rule for key `{key}` with shape {shape:?}: expected a `.weight` (rank ≥ 1), \
         `.bias`, `.running_mean`, `.running_var` (rank 1) or `.num_batches_tracked` (rank 0)"
    )]
    NoSyntheticRule {
        /// The state-dict key.
        key: String,
        /// Its shape.
        shape: Vec<usize>,
    },

    /// A weight of rank ≥ 2 with a zero-sized input dimension (its scale 2/√fan-in is undefined).
    #[error(
        "weight `{key}` has shape {shape:?}: fan-in (product of all but the first dimension) is 0"
    )]
    ZeroFanIn {
        /// The state-dict key.
        key: String,
        /// Its shape.
        shape: Vec<usize>,
    },

    // --- ImageNet images (`imagenet::images`) -------------------------------------------------
    /// An image path that does not exist.
    #[error("image path `{0}` does not exist; give an image file (JPEG/PNG), a folder of images or an ImageFolder tree")]
    ImageNotFound(PathBuf),

    /// A file that is not a decodable image.
    #[error("cannot decode image `{path}`: {message} (is it a valid JPEG or PNG? use --on-bad-image skip to skip such files)")]
    ImageDecode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },

    /// A folder that holds no images.
    #[error("no JPEG or PNG images found under `{0}` (looked for *.jpg, *.jpeg, *.png, also one level down in class folders)")]
    NoImages(PathBuf),

    /// Every image under a folder was bad and was skipped.
    #[error(
        "all {count} images under `{path}` were unreadable and skipped; nothing left to process"
    )]
    AllImagesSkipped {
        /// The folder.
        path: PathBuf,
        /// Number of files tried.
        count: usize,
    },

    /// An image with a zero dimension.
    #[error("image `{path}` has size {width}×{height}; it must be at least 1×1")]
    EmptyImage {
        /// The file.
        path: PathBuf,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },

    // --- ImageNet class names (`imagenet::classes`) ---------------------------------------------
    /// An ImageNet class index ≥ 1000.
    #[error("class index {0} is out of range; ImageNet classes are 0 to 999")]
    ClassIndexOutOfRange(usize),

    /// A name that is no ImageNet class.
    #[error("`{name}` is not an ImageNet class name{hint}; give an index 0–999 or a name such as `tench` or `golf ball` (`curtain classes` lists them all)")]
    UnknownClassName {
        /// The name given.
        name: String,
        /// Close matches, formatted as ` (did you mean …?)`, or empty.
        hint: String,
    },

    /// A name that matches several classes when case is ignored.
    #[error("`{name}` matches several classes ({matches}); spell it exactly or give the index")]
    AmbiguousClassName {
        /// The name given.
        name: String,
        /// The candidates as `index name` pairs.
        matches: String,
    },

    /// An empty entry in a class list.
    #[error(
        "empty class list entry in `{0}`; separate classes with commas, e.g. `tench,golf ball,9`"
    )]
    EmptyClassEntry(String),

    // --- downloads (`download`, `data::fetch`) -----------------------------------------------
    /// The server answered with an HTTP error status.
    #[error("download of {url} failed: the server answered HTTP {status}; check the URL (or pass --url with a mirror)")]
    DownloadStatus {
        /// The URL.
        url: String,
        /// HTTP status code.
        status: u16,
    },

    /// Connecting or transferring failed.
    #[error("download of {url} failed: {message}. Without network access, fetch the file elsewhere and import it (`curtain weights import <file>`)")]
    DownloadNetwork {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },

    /// The transfer ended early.
    #[error("download of {url} was cut short: got {got} of {expected} bytes; try again")]
    DownloadTruncated {
        /// The URL.
        url: String,
        /// Bytes received.
        got: u64,
        /// Bytes announced by the server.
        expected: u64,
    },

    /// The downloaded bytes have the wrong digest.
    #[error("download of {url} is corrupt: its SHA-256 is {found}, expected {expected}; the file was discarded — try again, or check the URL")]
    DownloadChecksum {
        /// The URL.
        url: String,
        /// Expected digest (or prefix), hex.
        expected: String,
        /// Actual digest, hex.
        found: String,
    },

    /// A downloaded data set that fails its size or digest check.
    #[error("download of `{url}` failed: {reason}")]
    Download {
        /// The address.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// No cache folder can be determined.
    #[error("no cache folder: neither $XDG_CACHE_HOME nor $HOME is set; pass --cache-dir")]
    NoCacheDir,

    // --- data sets (`data`) -----------------------------------------------------------------
    /// A data file is missing.
    #[error("data file `{path}` not found: {hint}")]
    MissingData {
        /// The file that was looked for.
        path: PathBuf,
        /// How to get it (apt package, `curtain data fetch …`).
        hint: String,
    },

    /// A data file exists but its contents are not what the format says.
    #[error("data file `{path}` is corrupt: {reason}; {hint}")]
    CorruptData {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// How to get a good copy.
        hint: String,
    },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
