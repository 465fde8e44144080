//! Titled image grids: rows × columns of images, each cell min–max normalised on its own.
//!
//! This is the layout of the paper's Figures 1–4 (rows are images, columns are target
//! classes, the original image in the first column). The pixel part is
//! `torchvision.utils.make_grid(x, nrow=cols, normalize=True, scale_each=True, padding=2)`
//! followed by `save_image`'s rounding: each cell is mapped from its own
//! `[min, max]` (over all its channels) to `[0, 1]` by
//! `(clamp(x, min, max) − min) / max(max − min, 1e−5)`, then to bytes by
//! `clamp(⌊255·v + 0.5⌋, 0, 255)`; cells are separated by `padding` black pixels. Column
//! titles, row labels and a title are drawn around that block, never over it, so the
//! block's pixels are exactly the normalised data (see [`GridLayout::cell_origin`]).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::format::Format;
use crate::output::{self, fit_text, text_size, text_style, Figure};

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `height · width · 3` bytes.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// The pixel at column `x`, row `y`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }
}

/// Min–max normalise one image to `[0, 1]` as `make_grid(scale_each=True)` does.
///
/// # Shapes
/// `cell`: any shape (all channels together); the output has the same length.
///
/// Returns the index of the first non-finite value as `Err`.
pub fn normalise_cell(cell: &[f32]) -> std::result::Result<Vec<f32>, usize> {
    if let Some(i) = cell.iter().position(|v| !v.is_finite()) {
        return Err(i);
    }
    let lo = cell.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = cell.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let range = (hi - lo).max(1e-5);
    Ok(cell
        .iter()
        .map(|&v| (v.clamp(lo, hi) - lo) / range)
        .collect())
}

/// The byte `save_image` writes for a value in `[0, 1]`.
pub fn to_byte(v: f32) -> u8 {
    (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}

/// Assemble the pixel block of a grid (no text), as `make_grid(scale_each=True)` +
/// `save_image`, with each cell enlarged `scale` times by nearest-neighbour repetition.
///
/// # Shapes
/// `data`: `[rows, cols, channels, height, width]` (channels 1 or 3, CHW as PyTorch),
/// row-major. Output: `(cols·(width·scale + padding) + padding) ×
/// (rows·(height·scale + padding) + padding)` pixels.
pub fn make_grid(data: &[f32], shape: [usize; 5], padding: u32, scale: u32) -> Result<RgbImage> {
    check_shape(data, shape)?;
    if scale == 0 {
        return Err(Error::InvalidParameter {
            what: "image grid",
            message: "scale must be at least 1".into(),
        });
    }
    let [rows, cols, ch, h, w] = shape;
    let (p, s) = (padding as usize, scale as usize);
    let (cw, chh) = (w * s, h * s);
    let gw = cols * (cw + p) + p;
    let gh = rows * (chh + p) + p;
    let mut pixels = vec![0u8; gw * gh * 3];
    let cell_len = ch * h * w;
    for r in 0..rows {
        for c in 0..cols {
            let k = r * cols + c;
            let cell = &data[k * cell_len..(k + 1) * cell_len];
            let norm = normalise_cell(cell).map_err(|i| Error::NonFinite {
                what: format!("image grid cell (row {r}, column {c})"),
                index: i,
                value: cell[i] as f64,
            })?;
            let x0 = p + c * (cw + p);
            let y0 = p + r * (chh + p);
            for y in 0..chh {
                for x in 0..cw {
                    let (sy, sx) = (y / s, x / s);
                    let o = ((y0 + y) * gw + x0 + x) * 3;
                    for k in 0..3 {
                        let channel = if ch == 1 { 0 } else { k };
                        pixels[o + k] = to_byte(norm[(channel * h + sy) * w + sx]);
                    }
                }
            }
        }
    }
    Ok(RgbImage {
        width: gw as u32,
        height: gh as u32,
        pixels,
    })
}

fn check_shape(data: &[f32], shape: [usize; 5]) -> Result<()> {
    let expected: usize = shape.iter().product();
    if shape.contains(&0) {
        return Err(Error::Empty {
            what: "image grid",
            message: format!(
                "shape [rows, cols, channels, height, width] = {shape:?} has a zero dimension"
            ),
        });
    }
    if data.len() != expected {
        return Err(Error::ShapeMismatch {
            what: "image grid",
            shape: shape.to_vec(),
            expected,
            found: data.len(),
        });
    }
    if shape[2] != 1 && shape[2] != 3 {
        return Err(Error::Channels(shape[2]));
    }
    Ok(())
}

/// A grid of images with optional column titles, row labels and title.
///
/// # Shapes
/// `data`: `[rows, cols, channels, height, width]`, row-major, channels 1 or 3.
#[derive(Debug, Clone)]
pub struct ImageGrid<'a> {
    data: &'a [f32],
    shape: [usize; 5],
    column_titles: Vec<String>,
    row_labels: Vec<String>,
    title: Option<String>,
    padding: u32,
    scale: u32,
}

impl<'a> ImageGrid<'a> {
    /// A grid of `shape = [rows, cols, channels, height, width]` images; padding 2, scale 1.
    pub fn new(data: &'a [f32], shape: [usize; 5]) -> Result<Self> {
        check_shape(data, shape)?;
        Ok(Self {
            data,
            shape,
            column_titles: Vec::new(),
            row_labels: Vec::new(),
            title: None,
            padding: 2,
            scale: 1,
        })
    }

    /// One title per column, drawn above the grid.
    pub fn column_titles<S: ToString>(mut self, titles: &[S]) -> Result<Self> {
        if titles.len() != self.shape[1] {
            return Err(Error::LabelCount {
                what: "image grid",
                axis: "columns",
                axis_one: "column",
                found: titles.len(),
                expected: self.shape[1],
            });
        }
        self.column_titles = titles.iter().map(|t| t.to_string()).collect();
        Ok(self)
    }

    /// One label per row, drawn to the left of the grid.
    pub fn row_labels<S: ToString>(mut self, labels: &[S]) -> Result<Self> {
        if labels.len() != self.shape[0] {
            return Err(Error::LabelCount {
                what: "image grid",
                axis: "rows",
                axis_one: "row",
                found: labels.len(),
                expected: self.shape[0],
            });
        }
        self.row_labels = labels.iter().map(|t| t.to_string()).collect();
        Ok(self)
    }

    /// A title above everything.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Black pixels between and around cells (default 2, as `make_grid`).
    pub fn padding(mut self, padding: u32) -> Self {
        self.padding = padding;
        self
    }

    /// Enlarge each cell `scale` times (nearest neighbour; default 1). Useful for 28×28
    /// or 32×32 images.
    pub fn scale(mut self, scale: u32) -> Result<Self> {
        if scale == 0 || scale > 64 {
            return Err(Error::InvalidParameter {
                what: "image grid",
                message: format!("scale {scale} is out of range; use 1 to 64"),
            });
        }
        self.scale = scale;
        Ok(self)
    }

    /// The shape `[rows, cols, channels, height, width]`.
    pub fn shape(&self) -> [usize; 5] {
        self.shape
    }

    /// Where everything goes on the canvas.
    pub fn layout(&self) -> Result<GridLayout> {
        let [rows, cols, _, h, w] = self.shape;
        let (cell_w, cell_h) = (w as u32 * self.scale, h as u32 * self.scale);
        let p = self.padding;
        let grid_w = cols as u32 * (cell_w + p) + p;
        let grid_h = rows as u32 * (cell_h + p) + p;
        let font = (cell_w / 14).clamp(10, 18);
        let header_h = if self.column_titles.is_empty() {
            0
        } else {
            font * 2
        };
        let left_w = if self.row_labels.is_empty() {
            0
        } else {
            let mut widest = 0;
            for l in &self.row_labels {
                let (t, s) = fit_text(l, font, 9, ROW_LABEL_MAX)?;
                widest = widest.max(text_size(&t, s)?.0);
            }
            widest + 12
        };
        let title_font = font + 4;
        let title_h = if self.title.is_some() {
            title_font * 2
        } else {
            0
        };
        Ok(GridLayout {
            width: left_w + grid_w,
            height: title_h + header_h + grid_h,
            grid_x: left_w,
            grid_y: title_h + header_h,
            cell_width: cell_w,
            cell_height: cell_h,
            padding: p,
            rows,
            cols,
            font_size: font,
            title_font_size: title_font,
        })
    }
}

const ROW_LABEL_MAX: u32 = 240;

/// Pixel positions of a drawn [`ImageGrid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridLayout {
    /// Canvas width.
    pub width: u32,
    /// Canvas height.
    pub height: u32,
    /// Left edge of the pixel block (including its outer padding).
    pub grid_x: u32,
    /// Top edge of the pixel block (including its outer padding).
    pub grid_y: u32,
    /// Cell width in pixels (image width × scale).
    pub cell_width: u32,
    /// Cell height in pixels (image height × scale).
    pub cell_height: u32,
    /// Padding between cells.
    pub padding: u32,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Font size of titles and labels.
    pub font_size: u32,
    /// Font size of the figure title.
    pub title_font_size: u32,
}

impl GridLayout {
    /// Top-left canvas pixel of cell (`row`, `col`).
    pub fn cell_origin(&self, row: usize, col: usize) -> (u32, u32) {
        (
            self.grid_x + self.padding + col as u32 * (self.cell_width + self.padding),
            self.grid_y + self.padding + row as u32 * (self.cell_height + self.padding),
        )
    }
}

struct GridFigure<'g, 'a> {
    grid: &'g ImageGrid<'a>,
    layout: GridLayout,
    block: RgbImage,
}

impl Figure for GridFigure<'_, '_> {
    fn size(&self) -> (u32, u32) {
        (self.layout.width, self.layout.height)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let l = &self.layout;
        let g = self.grid;
        let block = BitMapElement::with_ref(
            (l.grid_x as i32, l.grid_y as i32),
            (self.block.width, self.block.height),
            &self.block.pixels,
        )
        .ok_or_else(|| Error::Drawing("grid bitmap has the wrong size".into()))?;
        area.draw(&block).map_err(Error::drawing)?;
        let centre = Pos::new(HPos::Center, VPos::Center);
        for (c, t) in g.column_titles.iter().enumerate() {
            let (t, s) = fit_text(t, l.font_size, 9, l.cell_width + l.padding)?;
            let (x, _) = l.cell_origin(0, c);
            let pos = (
                (x + l.cell_width / 2) as i32,
                (l.grid_y - l.font_size) as i32,
            );
            area.draw_text(&t, &text_style(s).pos(centre), pos)
                .map_err(Error::drawing)?;
        }
        let right = Pos::new(HPos::Right, VPos::Center);
        for (r, t) in g.row_labels.iter().enumerate() {
            let (t, s) = fit_text(t, l.font_size, 9, ROW_LABEL_MAX)?;
            let (_, y) = l.cell_origin(r, 0);
            let pos = ((l.grid_x - 6) as i32, (y + l.cell_height / 2) as i32);
            area.draw_text(&t, &text_style(s).pos(right), pos)
                .map_err(Error::drawing)?;
        }
        if let Some(title) = &g.title {
            let (t, s) = fit_text(title, l.title_font_size, 9, l.width.saturating_sub(8))?;
            let pos = ((l.width / 2) as i32, l.title_font_size as i32);
            area.draw_text(&t, &text_style(s).pos(centre), pos)
                .map_err(Error::drawing)?;
        }
        Ok(())
    }
}

/// Draw `grid` to `path` as `format`; returns where each cell went.
pub fn draw_image_grid(grid: &ImageGrid<'_>, path: &Path, format: Format) -> Result<GridLayout> {
    crate::font::ensure_registered()?;
    let layout = grid.layout()?;
    let block = make_grid(grid.data, grid.shape, grid.padding, grid.scale)?;
    let figure = GridFigure {
        grid,
        layout,
        block,
    };
    output::save(&figure, path, format)?;
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_cell_matches_make_grid_formula() {
        let v = normalise_cell(&[-2.0, 0.0, 2.0, 1.0]).unwrap();
        assert_eq!(v, vec![0.0, 0.5, 1.0, 0.75]);
        // A constant cell maps to 0 (torchvision divides by max(range, 1e-5)).
        assert_eq!(normalise_cell(&[3.0; 4]).unwrap(), vec![0.0; 4]);
        assert_eq!(normalise_cell(&[1.0, f32::NAN]), Err(1));
    }

    #[test]
    fn make_grid_places_cells_with_padding() {
        // 1 row, 2 cols, grey 1×2 images: [0, 1] and [5, -5].
        let data = [0.0, 1.0, 5.0, -5.0];
        let g = make_grid(&data, [1, 2, 1, 1, 2], 2, 1).unwrap();
        assert_eq!((g.width, g.height), (2 * (2 + 2) + 2, 1 + 2 + 2));
        // Padding is black.
        assert_eq!(g.pixel(0, 0), [0, 0, 0]);
        assert_eq!(g.pixel(2, 2), [0, 0, 0]);
        assert_eq!(g.pixel(3, 2), [255, 255, 255]);
        assert_eq!(g.pixel(6, 2), [255, 255, 255]);
        assert_eq!(g.pixel(7, 2), [0, 0, 0]);
        // Scaled 3×: cell (0,0) becomes 3×6.
        let g3 = make_grid(&data, [1, 2, 1, 1, 2], 2, 3).unwrap();
        assert_eq!((g3.width, g3.height), (2 * (6 + 2) + 2, 3 + 4));
        assert_eq!(g3.pixel(2 + 2, 4), [0, 0, 0]);
        assert_eq!(g3.pixel(2 + 3, 4), [255, 255, 255]);
    }

    #[test]
    fn make_grid_rejects_bad_shapes() {
        assert!(matches!(
            make_grid(&[0.0; 5], [1, 1, 1, 2, 2], 2, 1),
            Err(Error::ShapeMismatch {
                expected: 4,
                found: 5,
                ..
            })
        ));
        assert!(matches!(
            make_grid(&[0.0; 8], [1, 1, 2, 2, 2], 2, 1),
            Err(Error::Channels(2))
        ));
        assert!(matches!(
            make_grid(&[], [0, 1, 1, 2, 2], 2, 1),
            Err(Error::Empty { .. })
        ));
        assert!(matches!(
            make_grid(&[f32::INFINITY, 0.0, 0.0, 0.0], [1, 1, 1, 2, 2], 2, 1),
            Err(Error::NonFinite { index: 0, .. })
        ));
    }
}
