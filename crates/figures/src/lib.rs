//! `figures`: plotters drawings from plain arrays, for the paper's visualisations.
//!
//! Everything here takes plain numbers (`&[f32]` plus a shape, or small structs of
//! vectors) and writes a PNG (default) or SVG file; nothing depends on burn, so the
//! numbers behind a figure are always computed and stored elsewhere first.
//!
//! - [`grid`]: titled image grids, each cell min–max normalised on its own, as
//!   `torchvision.utils.make_grid(normalize=True, scale_each=True, padding=2)` — the
//!   layout of the paper's Figures 1–4 (rows are images, columns target classes).
//! - [`curves`]: line plots of several series with a legend and axis labels.
//! - [`heatmap`]: heat maps with a colour bar and, optionally, the values in the cells.
//!
//! Text is set in DejaVu Sans, embedded in the binary (see `fonts/LICENSE-DejaVu.txt`),
//! so drawing never looks up system fonts.

pub mod colormap;
pub mod curves;
pub mod error;
pub mod font;
pub mod format;
pub mod grid;
pub mod heatmap;
mod output;

pub use curves::{draw_line_plot, LinePlot, Series};
pub use error::{Error, Result};
pub use format::Format;
pub use grid::{draw_image_grid, make_grid, GridLayout, ImageGrid, RgbImage};
pub use heatmap::{draw_heat_map, HeatMap};
