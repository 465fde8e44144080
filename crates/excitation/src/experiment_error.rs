//! Errors of the experiment side of the crate: data sets, small networks, training,
//! checkpoints and the gate-stability measurements.

use std::path::PathBuf;

/// What went wrong in loading data, building or training a small network, or measuring it.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
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
    /// Reading or writing a file failed.
    #[error("i/o error on `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Tensor shapes do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A checkpoint or model file could not be read or written.
    #[error("checkpoint `{path}`: {reason}")]
    Checkpoint {
        /// The checkpoint file or folder.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A download failed or its checksum did not match.
    #[error("download of `{url}` failed: {reason}")]
    Download {
        /// The address.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// Result alias for [`ExperimentError`].
pub type ExperimentResult<T> = std::result::Result<T, ExperimentError>;

impl ExperimentError {
    /// Wraps an i/o error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
