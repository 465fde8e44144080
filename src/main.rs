//! `curtain`: command-line tool.

mod cmd;

use clap::{Parser, Subcommand};

/// Path-space theory of ReLU networks and excitation pullbacks.
#[derive(Parser, Debug)]
#[command(name = "curtain", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Explain the built-in Fashion-MNIST CNN: excitation pullbacks vs gradients, and ascent.
    Demo(cmd::demo::DemoArgs),
    /// Data sets for the experiments.
    #[command(subcommand)]
    Data(cmd::data::DataCmd),
    /// Train a small CNN with checkpoints (resumes an interrupted run).
    Train(cmd::train::TrainArgs),
    /// Gate-stability measurements over checkpoints.
    #[command(subcommand)]
    Stability(cmd::stability::StabilityCmd),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Data(c) => cmd::data::run(c),
        Command::Train(a) => cmd::train::run(a),
        Command::Stability(c) => cmd::stability::run(c),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
