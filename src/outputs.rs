//! Output flags (`--out`, `--format`) and writing a figure together with the numbers
//! behind it: every grid `NAME.png|svg` comes with `NAME.npy` holding exactly the values
//! drawn, shape `[rows, cols, 3, h, w]`, before the per-cell min–max normalisation.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use figures::{draw_image_grid, Format, GridLayout, ImageGrid};
use serde_json::{json, Value};

use crate::error::{CliError, Result};
use crate::npy;

/// Figure file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatChoice {
    /// PNG: exact pixels.
    Png,
    /// SVG: vector text, images embedded as PNG.
    Svg,
}

/// Flags that choose where and how results are written.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Folder for figures, raw tensors (.npy) and summary.json; created if missing.
    #[arg(long, default_value = "out", value_name = "DIR")]
    pub out: PathBuf,

    /// Figure format.
    #[arg(long, value_enum, default_value = "png")]
    pub format: FormatChoice,
}

impl OutputArgs {
    /// Create the output folder.
    pub fn prepare(&self) -> Result<&Path> {
        std::fs::create_dir_all(&self.out).map_err(|source| CliError::Write {
            path: self.out.clone(),
            source,
        })?;
        Ok(&self.out)
    }

    /// The figures crate's format.
    pub fn figure_format(&self) -> Format {
        match self.format {
            FormatChoice::Png => Format::Png,
            FormatChoice::Svg => Format::Svg,
        }
    }
}

/// A grid to write: values `[rows, cols, 3, h, w]` and its labels.
pub struct GridOutput<'a> {
    /// File stem, e.g. `pullback-excitation`.
    pub stem: &'a str,
    /// Figure title.
    pub title: String,
    /// The values, `[rows, cols, 3, h, w]`.
    pub values: &'a [f32],
    /// The shape.
    pub shape: [usize; 5],
    /// One per column.
    pub column_titles: Vec<String>,
    /// One per row.
    pub row_labels: Vec<String>,
}

/// Write the figure and its `.npy`; returns a JSON record for the summary.
pub fn write_grid(out: &OutputArgs, g: &GridOutput<'_>) -> Result<Value> {
    let format = out.figure_format();
    let figure = out.out.join(format!("{}.{}", g.stem, format.extension()));
    let data = out.out.join(format!("{}.npy", g.stem));
    let grid = ImageGrid::new(g.values, g.shape)?
        .column_titles(&g.column_titles)?
        .row_labels(&g.row_labels)?
        .title(g.title.clone());
    let layout = draw_image_grid(&grid, &figure, format)?;
    npy::write(&data, g.values, &g.shape)?;
    Ok(json!({
        "figure": figure,
        "data": data,
        "shape": g.shape,
        "columns": g.column_titles,
        "rows": g.row_labels,
        "layout": layout_json(&layout),
    }))
}

fn layout_json(l: &GridLayout) -> Value {
    json!({
        "width": l.width,
        "height": l.height,
        "grid_x": l.grid_x,
        "grid_y": l.grid_y,
        "cell_width": l.cell_width,
        "cell_height": l.cell_height,
        "padding": l.padding,
    })
}

/// Write `summary.json` into the output folder; returns its path.
pub fn write_summary(out: &OutputArgs, summary: &Value) -> Result<PathBuf> {
    let path = out.out.join("summary.json");
    let text = serde_json::to_string_pretty(summary).expect("JSON values always serialise");
    std::fs::write(&path, text + "\n").map_err(|source| CliError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:24} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
