//! Errors of the scaling crate: one enum, values in every message.

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
                write!(f, "unexpected `{key}` (shape {found:?}) has no place in the model")
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
    let hidden: usize = counts.iter().map(|c| c.saturating_sub(SHOWN_PER_KIND)).sum();
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

/// Errors of the `excitation` crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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

    /// A model configuration that cannot be built.
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),

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

    /// A class index outside the model's outputs.
    #[error("class index {class} is out of range: the model has {num_classes} classes")]
    InvalidClass {
        /// The class given.
        class: usize,
        /// The number of logits.
        num_classes: usize,
    },

    /// An invalid numeric option (batch size, step count, radius…).
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

    /// An I/O error on a file.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

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
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// Reading a tensor back from a device failed.
    #[error("cannot read tensor data back from the device: {0}")]
    TensorRead(String),
}
