//! Heat maps of a matrix with a colour bar (viridis) and, optionally, the value printed
//! in each cell (e.g. the correlation ρ(s, t) between checkpoints s and t).
//!
//! NaN marks a missing cell (drawn light grey, left out of the colour scale); ±∞ is an
//! error.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::colormap::{luminance, viridis};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::output::{self, text_size, text_style, Figure};

/// A heat map of a `rows × cols` matrix.
///
/// # Shapes
/// `values`: `[rows, cols]`, row-major; row 0 is drawn at the top.
#[derive(Debug, Clone)]
pub struct HeatMap<'a> {
    values: &'a [f32],
    rows: usize,
    cols: usize,
    /// One label per row (left), or none (row numbers are used).
    pub row_labels: Vec<String>,
    /// One label per column (bottom), or none (column numbers are used).
    pub col_labels: Vec<String>,
    /// Caption above the map.
    pub title: String,
    /// Description of the x axis (columns).
    pub x_label: String,
    /// Description of the y axis (rows).
    pub y_label: String,
    /// Print each value in its cell with this many decimals (`None`: no numbers).
    pub show_values: Option<usize>,
    /// Colour scale limits; default: min and max of the finite values.
    pub value_range: Option<(f32, f32)>,
    /// Side of a cell in pixels (default 48).
    pub cell_size: u32,
}

impl<'a> HeatMap<'a> {
    /// A heat map of `values` with shape `[rows, cols]`.
    pub fn new(values: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        if rows == 0 || cols == 0 {
            return Err(Error::Empty {
                what: "heat map",
                message: format!("shape [{rows}, {cols}] has a zero dimension"),
            });
        }
        if values.len() != rows * cols {
            return Err(Error::ShapeMismatch {
                what: "heat map",
                shape: vec![rows, cols],
                expected: rows * cols,
                found: values.len(),
            });
        }
        if let Some(i) = values.iter().position(|v| v.is_infinite()) {
            return Err(Error::NonFinite {
                what: "heat map".into(),
                index: i,
                value: values[i] as f64,
            });
        }
        Ok(Self {
            values,
            rows,
            cols,
            row_labels: Vec::new(),
            col_labels: Vec::new(),
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            show_values: None,
            value_range: None,
            cell_size: 48,
        })
    }

    fn check(&self) -> Result<(f32, f32)> {
        for (labels, n, axis, axis_one) in [
            (&self.row_labels, self.rows, "rows", "row"),
            (&self.col_labels, self.cols, "columns", "column"),
        ] {
            if !labels.is_empty() && labels.len() != n {
                return Err(Error::LabelCount {
                    what: "heat map",
                    axis,
                    axis_one,
                    found: labels.len(),
                    expected: n,
                });
            }
        }
        if self.cell_size < 4 {
            return Err(Error::InvalidParameter {
                what: "heat map",
                message: format!("cell size {} is too small; use at least 4", self.cell_size),
            });
        }
        let (lo, hi) = match self.value_range {
            Some((lo, hi)) => {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(Error::InvalidParameter {
                        what: "heat map",
                        message: format!("value range ({lo}, {hi}) must be finite with min < max"),
                    });
                }
                (lo, hi)
            }
            None => {
                let finite = self.values.iter().copied().filter(|v| v.is_finite());
                let lo = finite.clone().fold(f32::INFINITY, f32::min);
                let hi = finite.fold(f32::NEG_INFINITY, f32::max);
                if !lo.is_finite() {
                    return Err(Error::Empty {
                        what: "heat map",
                        message: "every value is NaN (missing); nothing to colour".into(),
                    });
                }
                if lo == hi {
                    (lo - 0.5, hi + 0.5)
                } else {
                    (lo, hi)
                }
            }
        };
        Ok((lo, hi))
    }

    fn row_label(&self, r: usize) -> String {
        self.row_labels
            .get(r)
            .cloned()
            .unwrap_or_else(|| r.to_string())
    }

    fn col_label(&self, c: usize) -> String {
        self.col_labels
            .get(c)
            .cloned()
            .unwrap_or_else(|| c.to_string())
    }
}

const COLOUR_BAR_W: u32 = 100;
const MISSING: RGBColor = RGBColor(220, 220, 220);

struct HeatFigure<'h, 'a> {
    map: &'h HeatMap<'a>,
    range: (f32, f32),
    left: u32,
}

impl Figure for HeatFigure<'_, '_> {
    fn size(&self) -> (u32, u32) {
        let m = self.map;
        (
            self.left + m.cols as u32 * m.cell_size + 24 + COLOUR_BAR_W,
            m.rows as u32 * m.cell_size + 60 + 60,
        )
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let m = self.map;
        let (w, _) = self.size();
        let (main, bar) = area.split_horizontally(w - COLOUR_BAR_W);
        let (lo, hi) = self.range;
        let scale = |v: f32| ((v - lo) / (hi - lo)) as f64;
        let (rows, cols) = (m.rows, m.cols);
        let mut chart = ChartBuilder::on(&main)
            .caption(&m.title, text_style(18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(self.left)
            // A segmented 0..n range has n + 1 segments (the end is included): use 0..n−1.
            .build_cartesian_2d(
                (0..cols - 1).into_segmented(),
                (0..rows - 1).into_segmented(),
            )
            .map_err(Error::drawing)?;
        let col_fmt = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(c) if *c < cols => m.col_label(*c),
            _ => String::new(),
        };
        let row_fmt = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(r) if *r < rows => m.row_label(rows - 1 - *r),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(cols)
            .y_labels(rows)
            .x_label_formatter(&col_fmt)
            .y_label_formatter(&row_fmt)
            .x_desc(&m.x_label)
            .y_desc(&m.y_label)
            .label_style(text_style(12))
            .axis_desc_style(text_style(14))
            .draw()
            .map_err(Error::drawing)?;
        let mut cells = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                let v = m.values[r * cols + c];
                let colour = if v.is_nan() {
                    MISSING
                } else {
                    let [a, b, cc] = viridis(scale(v));
                    RGBColor(a, b, cc)
                };
                let y = rows - 1 - r;
                cells.push(Rectangle::new(
                    [
                        (SegmentValue::Exact(c), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(c + 1), SegmentValue::Exact(y + 1)),
                    ],
                    colour.filled(),
                ));
            }
        }
        chart.draw_series(cells).map_err(Error::drawing)?;
        if let Some(decimals) = m.show_values {
            let size = (m.cell_size / 4).clamp(8, 14);
            let centre = Pos::new(HPos::Center, VPos::Center);
            let mut texts = Vec::new();
            for r in 0..rows {
                for c in 0..cols {
                    let v = m.values[r * cols + c];
                    if v.is_nan() {
                        continue;
                    }
                    let colour: &'static RGBColor = if luminance(viridis(scale(v))) > 0.5 {
                        &BLACK
                    } else {
                        &WHITE
                    };
                    texts.push(Text::new(
                        format!("{v:.decimals$}"),
                        (
                            SegmentValue::CenterOf(c),
                            SegmentValue::CenterOf(rows - 1 - r),
                        ),
                        text_style(size).pos(centre).color(colour),
                    ));
                }
            }
            chart.draw_series(texts).map_err(Error::drawing)?;
        }
        // Colour bar: 200 bands from lo to hi with a labelled axis.
        let mut bar_chart = ChartBuilder::on(&bar)
            .margin_top(42)
            .margin_bottom(56)
            .margin_right(8)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..1f64, lo as f64..hi as f64)
            .map_err(Error::drawing)?;
        bar_chart
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .label_style(text_style(12))
            .draw()
            .map_err(Error::drawing)?;
        let n = 200;
        let step = (hi - lo) as f64 / n as f64;
        bar_chart
            .draw_series((0..n).map(|i| {
                let y0 = lo as f64 + i as f64 * step;
                let [a, b, c] = viridis((i as f64 + 0.5) / n as f64);
                Rectangle::new([(0.0, y0), (1.0, y0 + step)], RGBColor(a, b, c).filled())
            }))
            .map_err(Error::drawing)?;
        Ok(())
    }
}

/// Draw `map` to `path` as `format`.
pub fn draw_heat_map(map: &HeatMap<'_>, path: &Path, format: Format) -> Result<()> {
    crate::font::ensure_registered()?;
    let range = map.check()?;
    let mut widest = 0;
    for r in 0..map.rows {
        widest = widest.max(text_size(&map.row_label(r), 12)?.0);
    }
    let left = widest + 36;
    output::save(&HeatFigure { map, range, left }, path, format)
}
