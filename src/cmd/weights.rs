//! `curtain weights fetch <model>` and `curtain weights import <file>`: getting
//! torchvision's ImageNet checkpoints into the cache, and checking local ones.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use excitation::classifier::Classifier;
use excitation::download::{self, Checksum, FetchOptions};

use crate::error::{CliError, Result};
use crate::model::{with_model, ModelArgs, ModelInfo, ModelName, ModelTask, TORCHVISION_BASE_URL};

/// Download or check model weights.
#[derive(Debug, Clone, Args)]
pub struct WeightsArgs {
    #[command(subcommand)]
    pub action: WeightsAction,
}

/// What to do with weights.
#[derive(Debug, Clone, Subcommand)]
pub enum WeightsAction {
    /// Download torchvision's ImageNet checkpoint of a model into the cache, check its
    /// SHA-256 (torchvision's rule: the digest starts with the 8 hex digits in the file
    /// name) and check that it loads.
    #[command(after_long_help = "\
URLs (torchvision's):
  resnet50     https://download.pytorch.org/models/resnet50-0676ba61.pth
  vgg11_bn     https://download.pytorch.org/models/vgg11_bn-6002323d.pth
  densenet121  https://download.pytorch.org/models/densenet121-a639ec97.pth

Without network access, download the file elsewhere and pass it with --weights FILE
(or check it first with `curtain weights import FILE --model NAME`).")]
    Fetch(FetchArgs),
    /// Check that a local checkpoint (.pth or .safetensors, torchvision key names) loads
    /// into a model: every key present, none extra, every shape right.
    Import(ImportArgs),
}

/// `curtain weights fetch`.
#[derive(Debug, Clone, Args)]
pub struct FetchArgs {
    /// The model whose checkpoint to download.
    #[arg(value_enum)]
    pub model: ModelName,

    /// Download from this URL instead of torchvision's (a mirror). The cached file takes
    /// the URL's file name; if that name ends in `-<hex>` (torchvision's style), the
    /// digest must start with it, otherwise give --sha256.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// The expected SHA-256 digest (64 hex digits) of the file, checked instead of the
    /// file-name prefix rule.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,

    /// Cache folder [default: $XDG_CACHE_HOME/curtain or ~/.cache/curtain].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Download again even if a valid file is cached.
    #[arg(long)]
    pub force: bool,

    /// Skip loading the checkpoint into the model after the download.
    #[arg(long)]
    pub no_check: bool,
}

/// `curtain weights import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The checkpoint file.
    pub file: PathBuf,

    /// The model it is for.
    #[arg(long, value_enum, default_value = "resnet50")]
    pub model: ModelName,

    /// DenseNet only: build the model with the paper's hard final ReLU (weights are the
    /// same either way).
    #[arg(long)]
    pub paper_final_relu: bool,
}

impl WeightsArgs {
    /// Run the command.
    pub fn run(self) -> Result<()> {
        match self.action {
            WeightsAction::Fetch(a) => fetch(a),
            WeightsAction::Import(a) => import(a),
        }
    }
}

fn fetch(a: FetchArgs) -> Result<()> {
    let file = a.model.torchvision_file().ok_or_else(|| {
        CliError::flag(
            "<model>",
            format!(
                "`{}` has no published checkpoint; fetch resnet50, vgg11_bn or densenet121",
                a.model.name()
            ),
        )
    })?;
    let (url, file) = match &a.url {
        None => (format!("{TORCHVISION_BASE_URL}{file}"), file.to_string()),
        Some(u) => {
            let name = u
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .split(['?', '#'])
                .next()
                .unwrap_or_default();
            if name.is_empty() {
                return Err(CliError::flag(
                    "--url",
                    format!("`{u}` does not end in a file name; give the URL of the .pth file"),
                ));
            }
            (u.clone(), name.to_string())
        }
    };
    let checksum = match &a.sha256 {
        Some(h) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) => Checksum::Sha256(h.to_ascii_lowercase()),
        Some(h) => return Err(CliError::flag("--sha256", format!("`{h}` is not a SHA-256 digest; give 64 hex digits"))),
        None => Checksum::from_torchvision_file_name(&file).ok_or_else(|| {
            CliError::flag("--url", format!("the file name `{file}` carries no digest prefix; pass --sha256 HEX to check the download"))
        })?,
    };
    let cache = match &a.cache_dir {
        Some(d) => d.clone(),
        None => download::default_cache_dir()?,
    };
    let got = download::fetch(
        &url,
        &cache,
        &file,
        &checksum,
        &FetchOptions {
            force: a.force,
            ..FetchOptions::default()
        },
    )?;
    if got.cached {
        println!(
            "already cached: {} ({} bytes, SHA-256 {})",
            got.path.display(),
            got.bytes,
            got.sha256
        );
    } else {
        println!(
            "downloaded {url}\n  -> {} ({} bytes, SHA-256 {})",
            got.path.display(),
            got.bytes,
            got.sha256
        );
    }
    if !a.no_check {
        check_loads(a.model, got.path.clone(), Some(cache), false)?;
    }
    Ok(())
}

fn import(a: ImportArgs) -> Result<()> {
    if !a.file.is_file() {
        return Err(CliError::flag(
            "<file>",
            format!(
                "`{}` is not a file; give the path of a .pth or .safetensors checkpoint",
                a.file.display()
            ),
        ));
    }
    let (sha, bytes) = download::sha256_file(&a.file)?;
    println!("{}: {bytes} bytes, SHA-256 {sha}", a.file.display());
    if let Some(expected) = a
        .model
        .torchvision_file()
        .and_then(Checksum::from_torchvision_file_name)
    {
        if expected.accepts(&sha) {
            println!(
                "  matches torchvision's published checkpoint for {}",
                a.model.name()
            );
        } else {
            println!("  not torchvision's published checkpoint for {} (different digest); checking it loads anyway", a.model.name());
        }
    }
    check_loads(a.model, a.file, None, a.paper_final_relu)
}

struct Report;

impl ModelTask for Report {
    type Output = usize;
    fn run<M: Classifier>(self, model: M, _info: &ModelInfo) -> Result<usize> {
        Ok(excitation::weights::expected_shapes(&model).len())
    }
}

fn check_loads(
    model: ModelName,
    weights: PathBuf,
    cache_dir: Option<PathBuf>,
    paper_final_relu: bool,
) -> Result<()> {
    let args = ModelArgs {
        model,
        weights: Some(weights.clone()),
        cache_dir,
        device: "flex".into(),
        paper_final_relu,
    };
    let tensors = with_model(&args, Report)?;
    println!(
        "  loads into {}: all {tensors} tensors present with the right shapes\n  use it with: --model {} --weights {}",
        model.name(),
        model.name(),
        weights.display()
    );
    Ok(())
}
