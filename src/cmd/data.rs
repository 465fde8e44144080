//! `curtain data info|fetch`: check and download the data sets of the experiments.

use std::path::PathBuf;

use excitation::data::{DatasetKind, Split};

use super::CmdResult;

/// `curtain data …`.
#[derive(clap::Subcommand, Debug)]
pub enum DataCmd {
    /// Load a data set and print what it holds (or how to get it).
    Info {
        /// `fashion-mnist` or `cifar10`.
        name: String,
        /// Folder holding it.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Runs `curtain data …`.
pub fn run(cmd: &DataCmd) -> CmdResult {
    match cmd {
        DataCmd::Info { name, dir } => {
            let kind = DatasetKind::parse(name)?;
            let dir = dir.clone().unwrap_or_else(|| super::train::default_data_dir(kind));
            for split in [Split::Train, Split::Test] {
                let ds = kind.load(&dir, split)?;
                let mut counts = vec![0usize; ds.class_names.len()];
                ds.labels.iter().for_each(|&l| counts[l as usize] += 1);
                println!(
                    "{} {:?}: {} images of {}×{}×{} in {}; per class {:?}",
                    kind.name(),
                    split,
                    ds.len(),
                    ds.channels,
                    ds.height,
                    ds.width,
                    dir.display(),
                    counts
                );
            }
            Ok(())
        }
    }
}
