//! `curtain`: the path-space theory of ReLU networks and excitation pullbacks from the
//! command line — the paper's visualisations on torchvision's ImageNet models (excitation
//! pullbacks, Figure 2; projected gradient ascent, Figures 1, 3, 4; temperature sweeps),
//! a built-in demo, and the gate-stability experiments.
//!
//! Adding a subcommand: one file in `src/cmd/` with an `Args` struct and a `run` function,
//! one variant in [`Command`] and one arm in [`main`].

mod cmd;
mod error;
mod inputs;
mod model;
mod npy;
mod outputs;
mod predict;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc keeps freed memory for the next activation of the same size; glibc's malloc
/// returns large blocks to the kernel, and touching them again costs a page fault per 4 KiB
/// (docs/performance.md "Allocator": up to a fifth of a pullback's time at batch 5).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its index in mimalloc's `mi_option_t`, which
/// `libmimalloc-sys` does not name; the same in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// By default mimalloc, too, hands freed memory back to the kernel, 10 ms after it was freed,
/// and the next pass faults it in again: 5 800 page faults per DenseNet121 batch-5 pullback,
/// none with an hour's delay (docs/performance.md "Session 9"). The cost: the process keeps
/// its high-water mark of memory until it ends (or for an hour).
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores the option's value; called first thing in `main`, before
    // any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 3_600_000) }
}

/// Excitation pullbacks of ReLU networks: "Pulling Back the Curtain on ReLU Networks".
#[derive(Debug, Parser)]
#[command(
    name = "curtain",
    version,
    about,
    long_about = "\
Excitation pullbacks of ReLU networks (Satkiewicz, \"Pulling Back the Curtain on ReLU \
Networks\"): the backward pass with every ReLU derivative replaced by σ(z/T) and every \
max-pool by a soft max-pool, which turns noisy input gradients into perceptually aligned \
explanations.

Start here (offline, seconds):
  curtain demo

With torchvision's weights and Imagenette's val split:
  curtain weights fetch resnet50
  curtain pullback --images imagenette2/val --limit 5 --out fig2
  curtain ascent   --images imagenette2/val --limit 5 --out fig1

Every image command writes figures (PNG or SVG), the raw tensors behind them (.npy) and a \
summary.json into --out. See docs/cli/ for a page per command.

CPU threads: one per CPU by default; RAYON_NUM_THREADS=N sets another number. While a \
forward or backward pass runs, idle threads keep looking for work instead of sleeping, as \
PyTorch's OpenMP threads do; CURTAIN_WAIT_POLICY=passive lets them sleep at once (less CPU \
time, slower on many cores)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Explain the built-in Fashion-MNIST CNN: excitation pullbacks vs gradients, and ascent.
    Demo(cmd::demo::DemoArgs),
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
    /// Data sets for the experiments.
    #[command(subcommand)]
    Data(cmd::data::DataCmd),
    /// Train a small CNN with checkpoints (resumes an interrupted run).
    Train(cmd::train::TrainArgs),
    /// Gate-stability measurements over checkpoints.
    #[command(subcommand)]
    Stability(cmd::stability::StabilityCmd),
}

fn main() -> ExitCode {
    keep_freed_memory();
    // This thread joins rayon's pool: the CPU backends' parallel operations started here then
    // run here too instead of handing each to the pool and sleeping (excitation::backend).
    if let Err(e) = excitation::backend::join_rayon_pool() {
        eprintln!("warning: the main thread could not join rayon's thread pool ({e}); continuing");
    }
    // Idle threads look for work through each pass (excitation::awake) unless told otherwise.
    match wait_policy() {
        Ok(active) => excitation::awake::set_enabled(active),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let cli = Cli::parse();
    let result: cmd::CmdResult = match cli.command {
        Command::Demo(a) => cmd::demo::run(&a),
        Command::Pullback(a) => a.run().map_err(Into::into),
        Command::Ascent(a) => a.run().map_err(Into::into),
        Command::Sweep(a) => a.run().map_err(Into::into),
        Command::Weights(a) => a.run().map_err(Into::into),
        Command::Classes(a) => a.run().map_err(Into::into),
        Command::Data(c) => cmd::data::run(&c),
        Command::Train(a) => cmd::train::run(&a),
        Command::Stability(c) => cmd::stability::run(&c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `CURTAIN_WAIT_POLICY`: `active` (the default: idle threads keep looking for work during a
/// pass) or `passive` (they sleep at once, rayon's own behaviour), as OpenMP's
/// `OMP_WAIT_POLICY`. Returns whether the policy is active.
fn wait_policy() -> Result<bool, String> {
    match std::env::var("CURTAIN_WAIT_POLICY") {
        Err(std::env::VarError::NotPresent) => Ok(true),
        Ok(v) if v.eq_ignore_ascii_case("active") || v.is_empty() => Ok(true),
        Ok(v) if v.eq_ignore_ascii_case("passive") => Ok(false),
        Ok(v) => Err(format!(
            "CURTAIN_WAIT_POLICY is `{v}`; use `active` (the default) or `passive`, or unset it"
        )),
        Err(std::env::VarError::NotUnicode(_)) => Err(
            "CURTAIN_WAIT_POLICY is not valid UTF-8; use `active` or `passive`, or unset it".into(),
        ),
    }
}
