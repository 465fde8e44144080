//! The error type of the crate and its `Result` alias.
//!
//! Every variant carries the offending values so that the message names the problem
//! and, where there is one, the fix.

/// Errors raised by `pathspace`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An array has the wrong shape.
    #[error("{what}: expected shape {expected:?}, got {got:?}")]
    Shape {
        /// What the array is (e.g. "input x").
        what: String,
        /// The shape that was expected.
        expected: Vec<usize>,
        /// The shape that was given.
        got: Vec<usize>,
    },
    /// The network description is inconsistent (empty, non-finite, mismatched layers).
    #[error("invalid network: {0}")]
    InvalidNetwork(String),
    /// A temperature is not a positive finite number.
    #[error(
        "temperature {value} at {location} is invalid: temperatures must be finite and > 0 \
         (use `HardGating` for the T -> 0 limit and `ConstantGating(0.5)` for T -> infinity)"
    )]
    InvalidTemperature {
        /// Where the temperature sits ("global", "layer 2", "layer 2 neuron 3").
        location: String,
        /// The rejected value.
        value: f64,
    },
    /// A gate value lies outside \[0, 1\] or is not finite.
    #[error("gate value {value} at layer {layer} neuron {neuron} is outside [0, 1]")]
    GateOutOfRange {
        /// Paper layer index ℓ (1-based).
        layer: usize,
        /// Neuron index (0-based).
        neuron: usize,
        /// The rejected value.
        value: f64,
    },
    /// A class index is not a row of the head.
    #[error("class {class} is out of range: the head has {classes} classes (0..{classes})")]
    ClassOutOfRange {
        /// The requested class.
        class: usize,
        /// Number of classes C.
        classes: usize,
    },
    /// A layer or neuron index is out of range.
    #[error("{0}")]
    IndexOutOfRange(String),
    /// Explicit enumeration of paths was asked for a network with too many paths.
    #[error(
        "{count} paths exceed the limit of {limit} for explicit path enumeration; \
         use the backward-pass (rank-R) functions for networks of this size"
    )]
    TooManyPaths {
        /// Number of paths (saturated at u128::MAX).
        count: u128,
        /// The limit in force.
        limit: u128,
    },
    /// A statistic is undefined for the given data.
    #[error("{0}")]
    Undefined(String),
    /// Any other invalid argument.
    #[error("{0}")]
    InvalidArgument(String),
    /// A key of the state_dict is missing.
    #[error("state_dict key `{key}` is missing (found keys: {found})")]
    MissingKey {
        /// The missing key.
        key: String,
        /// The keys that are present, comma-separated.
        found: String,
    },
    /// A state_dict tensor has the wrong shape.
    #[error("state_dict tensor `{key}` has shape {got:?}, expected {expected}")]
    WrongShape {
        /// Tensor key.
        key: String,
        /// Shape found in the file.
        got: Vec<usize>,
        /// Description of the expected shape.
        expected: String,
    },
    /// A state_dict tensor has an unsupported dtype.
    #[error("state_dict tensor `{key}` has dtype {dtype}, expected F32 or F64 (convert with `model.float()` or `model.double()` before saving)")]
    WrongDtype {
        /// Tensor key.
        key: String,
        /// Dtype found in the file.
        dtype: String,
    },
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file.
    #[error("invalid safetensors data: {0}")]
    Safetensors(String),
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Checks that `got` equals `expected`, naming `what` otherwise.
pub(crate) fn check_shape(what: &str, expected: &[usize], got: &[usize]) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Shape {
            what: what.to_string(),
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}
