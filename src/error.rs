//! The command line's error type: every failure names the problem and the fix.

use std::path::PathBuf;

/// Everything a `curtain` command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the models, weights, pullbacks, ascent, images, class names and downloads.
    #[error("{0}")]
    Excitation(#[from] excitation::Error),
    /// From drawing figures.
    #[error("{0}")]
    Figure(#[from] figures::Error),
    /// A flag value that cannot be used.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, e.g. `--temperature`.
        flag: &'static str,
        /// The problem and the fix.
        message: String,
    },
    /// No weights were given and none are cached.
    #[error(
        "no weights for `{model}`: pass --weights FILE (a torchvision .pth or .safetensors){hint}"
    )]
    NoWeights {
        /// The model name.
        model: String,
        /// How to get them.
        hint: String,
    },
    /// Writing an output file failed.
    #[error("cannot write `{path}`: {source} (check that --out points to a writable folder)")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result with [`CliError`].
pub type Result<T> = std::result::Result<T, CliError>;

impl CliError {
    /// A bad flag value.
    pub fn flag(flag: &'static str, message: impl Into<String>) -> Self {
        CliError::Flag {
            flag,
            message: message.into(),
        }
    }
}
