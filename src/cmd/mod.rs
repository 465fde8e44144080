//! Subcommands of `curtain`, one file each. Each defines its clap `Args` and a `run`.

pub mod ascent;
pub mod classes;
pub mod data;
pub mod demo;
pub mod progress;
pub mod pullback;
pub mod stability;
pub mod stability_plot;
pub mod sweep;
pub mod train;
pub mod weights;

/// What a subcommand returns: errors print with their message and the process exits 1.
pub type CmdResult = Result<(), Box<dyn std::error::Error>>;
