//! Former error type of the experiment side (data sets, small networks, training,
//! checkpoints, gate stability), folded into the crate's [`Error`](crate::Error).
//!
//! The names remain as aliases so that code written against them keeps compiling:
//! `ExperimentError::Config(..)` *is* `Error::Config(..)`, `ExperimentError::io(path, e)` is
//! [`Error::io`](crate::Error::io). New code uses [`crate::Error`] and [`crate::Result`].

/// The crate's error type, under its former experiment-side name.
pub type ExperimentError = crate::Error;

/// The crate's result type, under its former experiment-side name.
pub type ExperimentResult<T> = crate::Result<T>;
