//! `curtain`: the paper's visualisations from the command line — excitation pullbacks
//! (Figure 2), projected gradient ascent along them (Figures 1, 3, 4), temperature
//! sweeps, and torchvision weights.
//!
//! Adding a subcommand: one file in `src/cmd/` with an `Args` struct and a `run` method,
//! one variant in [`Command`] and one arm in [`run`].

mod cmd;
mod error;
mod inputs;
mod model;
mod npy;
mod outputs;
mod predict;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Excitation pullbacks of ReLU networks: "Pulling Back the Curtain on ReLU Networks".
#[derive(Debug, Parser)]
#[command(name = "curtain", version, about, long_about = "\
Excitation pullbacks of ReLU networks (Satkiewicz, \"Pulling Back the Curtain on ReLU \
Networks\"): the backward pass with every ReLU derivative replaced by σ(z/T) and every \
max-pool by a soft max-pool, which turns noisy input gradients into perceptually aligned \
explanations.

Typical session (torchvision weights, Imagenette's val split):
  curtain weights fetch resnet50
  curtain pullback --images imagenette2-160/val --limit 5 --out fig2
  curtain ascent   --images imagenette2-160/val --limit 5 --out fig1

Every command writes figures (PNG or SVG), the raw tensors behind them (.npy) and a \
summary.json into --out. See docs/cli/ for a page per command.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Excitation pullbacks and vanilla gradients of target logits (Figure 2).
    Pullback(cmd::pullback::PullbackArgs),
    /// Projected gradient ascent along pullbacks: perturbed images and differences
    /// (Figures 1, 3, 4).
    Ascent(cmd::ascent::AscentArgs),
    /// One image's pullback across temperatures, in one figure, with similarity curves.
    Sweep(cmd::sweep::SweepArgs),
    /// Download torchvision's checkpoints, or check a local one.
    Weights(cmd::weights::WeightsArgs),
    /// List or search the ImageNet class names.
    Classes(cmd::classes::ClassesArgs),
}

fn run(cli: Cli) -> error::Result<()> {
    match cli.command {
        Command::Pullback(a) => a.run(),
        Command::Ascent(a) => a.run(),
        Command::Sweep(a) => a.run(),
        Command::Weights(a) => a.run(),
        Command::Classes(a) => a.run(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
