//! The error type of the `figures` crate.

use std::path::PathBuf;

/// Everything that can go wrong while drawing a figure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data slice does not hold as many values as the shape says.
    #[error("{what}: shape {shape:?} needs {expected} values, but {found} were given")]
    ShapeMismatch {
        /// What was being drawn.
        what: &'static str,
        /// The shape given.
        shape: Vec<usize>,
        /// Number of values the shape needs.
        expected: usize,
        /// Number of values given.
        found: usize,
    },
    /// A dimension is zero, or a list that must not be empty is empty.
    #[error("{what}: {message}")]
    Empty {
        /// What was being drawn.
        what: &'static str,
        /// What is empty, and what to do.
        message: String,
    },
    /// An image grid cell has a channel count other than 1 (grey) or 3 (RGB).
    #[error("image grid: cells have {0} channels, but only 1 (grey) or 3 (RGB) can be drawn")]
    Channels(usize),
    /// A list of labels does not match the number of rows/columns/series.
    #[error("{what}: {found} labels given for {expected} {axis}; give exactly one per {axis_one} or none")]
    LabelCount {
        /// What was being drawn.
        what: &'static str,
        /// Which axis, plural ("columns").
        axis: &'static str,
        /// Which axis, singular ("column").
        axis_one: &'static str,
        /// Number of labels given.
        found: usize,
        /// Number of labels expected.
        expected: usize,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("{what}: value {value} at index {index} is not finite")]
    NonFinite {
        /// What was being drawn (and where).
        what: String,
        /// Flat index of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A parameter is out of range.
    #[error("{what}: {message}")]
    InvalidParameter {
        /// What was being drawn.
        what: &'static str,
        /// The problem and the fix.
        message: String,
    },
    /// An unknown figure format name.
    #[error("unknown figure format `{0}`: use `png` or `svg`")]
    UnknownFormat(String),
    /// Writing the output file failed.
    #[error("cannot write figure `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Encoding the PNG failed.
    #[error("cannot encode PNG `{path}`: {message}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's message.
        message: String,
    },
    /// plotters reported an error while drawing.
    #[error("drawing failed: {0}")]
    Drawing(String),
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wrap a plotters drawing error.
    pub(crate) fn drawing<E: std::fmt::Display>(e: E) -> Self {
        Error::Drawing(e.to_string())
    }
}
