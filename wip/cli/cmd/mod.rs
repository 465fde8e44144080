//! One file per subcommand. Each defines its clap `Args` struct and a `run` method; adding
//! a subcommand is one file here plus one variant in `main.rs`'s `Command`.

pub mod ascent;
pub mod classes;
pub mod pullback;
pub mod sweep;
pub mod weights;
