//! Subcommands of `curtain`, one file each.

pub mod data;
pub mod demo;
pub mod progress;
pub mod stability;
pub mod stability_plot;
pub mod train;

/// What a subcommand returns: errors print with their message and the process exits 1.
pub type CmdResult = Result<(), Box<dyn std::error::Error>>;
