//! `curtain data info|fetch`: check and download the data sets of the experiments.

use std::path::PathBuf;

use excitation::data::fetch::{fetch_dataset, official_base, sources, DataFetchOptions, Expected};
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
    /// Download a data set from its official source, check every file, and (CIFAR-10)
    /// unpack it.
    #[command(after_long_help = "\
Sources (each file checked before it is put in place):
  fashion-mnist  https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/
                 {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz: MD5 as published by
                 torchvision, and the SHA-256 of each decompressed payload
  cifar10        https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz: size and the
                 MD5 on the CIFAR-10 page, then 50000/10000 images after unpacking

Without network access: `apt-get install dataset-fashion-mnist` (Debian), or download the
files elsewhere into --dir (a file already there that passes its checks is not fetched again).")]
    Fetch(FetchArgs),
}

/// Arguments of `curtain data fetch`.
#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// `fashion-mnist` or `cifar10`.
    pub name: String,
    /// Folder to download into [default: data/fashion-mnist or data/cifar10].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Base address of a mirror holding the same file names (replaces the official one).
    #[arg(long, alias = "url", value_name = "URL")]
    pub mirror: Option<String>,
    /// Expected MD5 of a file, `FILE=HEX` (repeatable): replaces that file's built-in checks.
    #[arg(long, value_name = "FILE=HEX")]
    pub md5: Vec<String>,
    /// Expected SHA-256 of a file, `FILE=HEX` (repeatable): replaces its built-in checks.
    #[arg(long, value_name = "FILE=HEX")]
    pub sha256: Vec<String>,
    /// Download again even files that are present and pass their checks.
    #[arg(long)]
    pub force: bool,
}

/// The folder `curtain data fetch` writes to by default.
pub fn default_fetch_dir(kind: DatasetKind) -> PathBuf {
    PathBuf::from("data").join(kind.name())
}

/// Runs `curtain data …`.
pub fn run(cmd: &DataCmd) -> CmdResult {
    match cmd {
        DataCmd::Info { name, dir } => {
            let kind = DatasetKind::parse(name)?;
            let dir = dir
                .clone()
                .unwrap_or_else(|| super::train::default_data_dir(kind));
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
        DataCmd::Fetch(a) => fetch(a),
    }
}

fn fetch(a: &FetchArgs) -> CmdResult {
    let kind = DatasetKind::parse(&a.name)?;
    if let Some(m) = &a.mirror {
        if !(m.starts_with("http://") || m.starts_with("https://")) {
            return Err(format!("--mirror `{m}` is not an http:// or https:// address").into());
        }
    }
    let mut checksums = Vec::new();
    for spec in &a.md5 {
        checksums.push(Expected::parse_override(kind, spec, false)?);
    }
    for spec in &a.sha256 {
        checksums.push(Expected::parse_override(kind, spec, true)?);
    }
    let dir = a.dir.clone().unwrap_or_else(|| default_fetch_dir(kind));
    let options = DataFetchOptions {
        base_url: a.mirror.clone(),
        checksums,
        progress: true,
        force: a.force,
    };
    if !options.official() {
        eprintln!("checking the files against the checksums given on the command line, not the official ones");
    }
    eprintln!(
        "fetching {} ({} file{}) from {} into {}",
        kind.name(),
        sources(kind).len(),
        if sources(kind).len() == 1 { "" } else { "s" },
        a.mirror.as_deref().unwrap_or(official_base(kind)),
        dir.display()
    );
    let report = fetch_dataset(kind, &dir, &options)?;
    for f in &report.files {
        let how = if f.cached { "present" } else { "downloaded" };
        println!(
            "{how} {} ({} bytes, MD5 {}, SHA-256 {})",
            f.path.display(),
            f.bytes,
            f.md5,
            f.sha256
        );
    }
    println!(
        "{}: {} training and {} test images in {}; use it with --data-dir {}",
        kind.name(),
        report.counts.0,
        report.counts.1,
        report.dir.display(),
        report.dir.display()
    );
    Ok(())
}
