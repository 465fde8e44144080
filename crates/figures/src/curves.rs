//! Line plots: several series against a shared x axis, with a legend and axis labels
//! (e.g. gate agreement against training step, or a pullback statistic against the
//! temperature T on a log axis).

use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::format::Format;
use crate::output::{self, text_style, Figure};

/// One named series of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// x values.
    pub x: Vec<f64>,
    /// y values, one per x value.
    pub y: Vec<f64>,
}

impl Series {
    /// A series from x and y values.
    pub fn new(name: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            x,
            y,
        }
    }
}

/// A line plot.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// Caption above the plot.
    pub title: String,
    /// x-axis description.
    pub x_label: String,
    /// y-axis description.
    pub y_label: String,
    /// The series; each gets its own colour and legend entry.
    pub series: Vec<Series>,
    /// Logarithmic x axis (all x must be > 0).
    pub log_x: bool,
    /// Draw a dot at every point as well as the line.
    pub markers: bool,
    /// Canvas size in pixels.
    pub size: (u32, u32),
}

impl LinePlot {
    /// An empty plot of 800×500 pixels, linear axes, with markers.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            log_x: false,
            markers: true,
            size: (800, 500),
        }
    }

    /// Add a series.
    pub fn with_series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    fn validate(&self) -> Result<(Range<f64>, Range<f64>)> {
        if self.series.is_empty() || self.series.iter().all(|s| s.x.is_empty()) {
            return Err(Error::Empty {
                what: "line plot",
                message: "no points to draw; add at least one series with a point".into(),
            });
        }
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for s in &self.series {
            if s.x.len() != s.y.len() {
                return Err(Error::ShapeMismatch {
                    what: "line plot series",
                    shape: vec![s.x.len()],
                    expected: s.x.len(),
                    found: s.y.len(),
                });
            }
            for (i, (&x, &y)) in s.x.iter().zip(&s.y).enumerate() {
                for v in [x, y] {
                    if !v.is_finite() {
                        return Err(Error::NonFinite {
                            what: format!("line plot series `{}`", s.name),
                            index: i,
                            value: v,
                        });
                    }
                }
                if self.log_x && x <= 0.0 {
                    return Err(Error::InvalidParameter {
                        what: "line plot",
                        message: format!(
                            "series `{}` has x = {x} at index {i}, but a log x axis needs x > 0",
                            s.name
                        ),
                    });
                }
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        let widen = |a: f64, b: f64, log: bool| -> Range<f64> {
            if log {
                if a == b {
                    a / 2.0..b * 2.0
                } else {
                    a..b
                }
            } else if a == b {
                let d = if a == 0.0 { 1.0 } else { a.abs() * 0.1 };
                a - d..b + d
            } else {
                let d = (b - a) * 0.05;
                a - d..b + d
            }
        };
        Ok((widen(x0, x1, self.log_x), widen(y0, y1, false)))
    }
}

/// Ten distinguishable colours (matplotlib's tab10).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

struct PlotFigure<'p> {
    plot: &'p LinePlot,
    x: Range<f64>,
    y: Range<f64>,
}

impl Figure for PlotFigure<'_> {
    fn size(&self) -> (u32, u32) {
        self.plot.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let legend = self.legend_corner();
        if self.plot.log_x {
            draw_with(
                self.plot,
                area,
                self.x.clone().log_scale(),
                self.y.clone(),
                legend,
            )
        } else {
            draw_with(self.plot, area, self.x.clone(), self.y.clone(), legend)
        }
    }
}

impl PlotFigure<'_> {
    /// The corner for the legend that covers the fewest data points (upper right on ties).
    fn legend_corner(&self) -> SeriesLabelPosition {
        let (x, y) = (&self.x, &self.y);
        let fx = |v: f64| {
            if self.plot.log_x {
                (v.ln() - x.start.ln()) / (x.end.ln() - x.start.ln())
            } else {
                (v - x.start) / (x.end - x.start)
            }
        };
        let fy = |v: f64| (v - y.start) / (y.end - y.start);
        // The legend box: about 40 % of the width, 30 px per series of a ~400 px tall plot.
        let (w, h) = (
            0.42,
            ((self.plot.series.len() as f64 * 18.0 + 16.0) / 400.0).min(0.9),
        );
        let corners = [
            (SeriesLabelPosition::UpperRight, true, true),
            (SeriesLabelPosition::LowerRight, true, false),
            (SeriesLabelPosition::UpperLeft, false, true),
            (SeriesLabelPosition::LowerLeft, false, false),
        ];
        let covered = |right: bool, upper: bool| -> usize {
            self.plot
                .series
                .iter()
                .flat_map(|s| s.x.iter().zip(&s.y))
                .filter(|(&a, &b)| {
                    let (u, v) = (fx(a), fy(b));
                    (if right { u >= 1.0 - w } else { u <= w })
                        && (if upper { v >= 1.0 - h } else { v <= h })
                })
                .count()
        };
        corners
            .into_iter()
            .min_by_key(|&(_, right, upper)| covered(right, upper))
            .map(|c| c.0)
            .unwrap_or(SeriesLabelPosition::UpperRight)
    }
}

fn draw_with<DB, XR>(
    plot: &LinePlot,
    area: &DrawingArea<DB, Shift>,
    x: XR,
    y: Range<f64>,
    legend: SeriesLabelPosition,
) -> Result<()>
where
    DB: DrawingBackend,
    XR: AsRangedCoord<Value = f64>,
    XR::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&plot.title, text_style(20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(Error::drawing)?;
    chart
        .configure_mesh()
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .label_style(text_style(13))
        .axis_desc_style(text_style(15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(Error::drawing)?;
    for (i, s) in plot.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64)> = s.x.iter().copied().zip(s.y.iter().copied()).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(Error::drawing)?
            .label(&s.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        if plot.markers {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(Error::drawing)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(text_style(13))
        .position(legend)
        .draw()
        .map_err(Error::drawing)?;
    Ok(())
}

/// Draw `plot` to `path` as `format`.
pub fn draw_line_plot(plot: &LinePlot, path: &Path, format: Format) -> Result<()> {
    let (x, y) = plot.validate()?;
    output::save(&PlotFigure { plot, x, y }, path, format)
}

#[cfg(test)]
mod legend_tests {
    use super::*;

    fn figure(plot: &LinePlot) -> PlotFigure<'_> {
        let (x, y) = plot.validate().unwrap();
        PlotFigure { plot, x, y }
    }

    /// The legend goes to the upper right unless data lie there; a rising curve ending
    /// top right pushes it to the lower right, one ending bottom right to the upper right.
    #[test]
    fn legend_avoids_the_data() {
        let xs: Vec<f64> = (0..11).map(f64::from).collect();
        let rising =
            LinePlot::new("t", "x", "y").with_series(Series::new("a", xs.clone(), xs.clone()));
        assert!(matches!(
            figure(&rising).legend_corner(),
            SeriesLabelPosition::LowerRight
        ));
        let falling = LinePlot::new("t", "x", "y").with_series(Series::new(
            "a",
            xs.clone(),
            xs.iter().map(|v| 10.0 - v).collect(),
        ));
        assert!(matches!(
            figure(&falling).legend_corner(),
            SeriesLabelPosition::UpperRight
        ));
        // Low on the left, high from x = 2 on: only the lower right is free.
        let plateau: Vec<f64> = xs
            .iter()
            .map(|&v| if v < 2.0 { 0.0 } else { 10.0 })
            .collect();
        let p = LinePlot::new("t", "x", "y").with_series(Series::new("a", xs.clone(), plateau));
        let corner = figure(&p).legend_corner();
        assert!(
            matches!(corner, SeriesLabelPosition::LowerRight),
            "{corner:?}"
        );
        // Points in every corner: the one with the fewest wins.
        let xs4 = vec![0.0, 0.0, 10.0, 10.0, 10.0, 0.0, 10.0];
        let ys4 = vec![0.0, 10.0, 0.0, 0.0, 10.0, 10.0, 10.0];
        let p = LinePlot::new("t", "x", "y").with_series(Series::new("a", xs4, ys4));
        assert!(matches!(
            figure(&p).legend_corner(),
            SeriesLabelPosition::LowerLeft
        ));
    }
}
