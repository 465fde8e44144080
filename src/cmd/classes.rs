//! `curtain classes`: list or search the 1000 ImageNet class names.

use clap::Args;
use excitation::imagenet::classes::{self, IMAGENETTE_TO_IMAGENET, IMAGENETTE_WNIDS};

use crate::error::Result;

/// List or search ImageNet class names (for --classes).
#[derive(Debug, Clone, Args)]
pub struct ClassesArgs {
    /// Show only classes whose name contains this text (case-insensitive).
    pub query: Option<String>,

    /// Show the ten Imagenette classes with their folder names (WordNet ids) instead.
    #[arg(long)]
    pub imagenette: bool,

    /// Show the paper's default targets instead.
    #[arg(long)]
    pub paper: bool,
}

impl ClassesArgs {
    /// Run the command.
    pub fn run(self) -> Result<()> {
        if self.imagenette {
            for (k, (&i, wnid)) in IMAGENETTE_TO_IMAGENET
                .iter()
                .zip(IMAGENETTE_WNIDS)
                .enumerate()
            {
                println!(
                    "{k}\t{wnid}\t{i}\t{}",
                    classes::class_name(i).unwrap_or("?")
                );
            }
            return Ok(());
        }
        if self.paper {
            for i in classes::paper_default_targets() {
                println!("{i}\t{}", classes::class_name(i).unwrap_or("?"));
            }
            return Ok(());
        }
        let q = self.query.as_deref().map(str::to_lowercase);
        for (i, name) in classes::class_names().iter().enumerate() {
            if q.as_ref()
                .is_none_or(|q| name.to_lowercase().contains(q.as_str()))
            {
                println!("{i}\t{name}");
            }
        }
        Ok(())
    }
}
