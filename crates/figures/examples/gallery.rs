//! Draw one figure of each kind into a folder, to look at them:
//! `cargo run -p figures --example gallery -- /tmp/gallery`.

use std::path::PathBuf;

use figures::{
    draw_heat_map, draw_image_grid, draw_line_plot, Format, HeatMap, ImageGrid, LinePlot, Series,
};

fn main() -> figures::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "gallery".into()));
    std::fs::create_dir_all(&dir).map_err(|source| figures::Error::Io {
        path: dir.clone(),
        source,
    })?;
    let (rows, cols, h, w) = (2, 4, 64, 64);
    let mut data = Vec::with_capacity(rows * cols * 3 * h * w);
    for r in 0..rows {
        for c in 0..cols {
            for ch in 0..3 {
                for y in 0..h {
                    for x in 0..w {
                        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
                        data.push(
                            ((fx * (c + 1) as f32 * 6.0).sin()
                                + (fy * (r + ch + 1) as f32 * 4.0).cos())
                                * (c + 1) as f32,
                        );
                    }
                }
            }
        }
    }
    let grid = ImageGrid::new(&data, [rows, cols, 3, h, w])?
        .column_titles(&["image", "tench", "cassette player", "garbage truck"])?
        .row_labels(&["ILSVRC2012_val_00000293", "n01440764_10042"])?
        .title("Excitation pullbacks — resnet50, T = 0.3");
    for f in [Format::Png, Format::Svg] {
        draw_image_grid(&grid, &dir.join(format!("grid.{f}")), f)?;
    }
    let t = vec![0.01, 0.03, 0.1, 0.15, 0.3, 0.5, 1.0, 3.0];
    let mut plot = LinePlot::new(
        "Pullback similarity across temperatures",
        "temperature T",
        "cosine similarity",
    )
    .with_series(Series::new(
        "to vanilla",
        t.clone(),
        t.iter().map(|x| 1.0 / (1.0 + 3.0 * x)).collect(),
    ))
    .with_series(Series::new(
        "to T = 0.3",
        t.clone(),
        t.iter()
            .map(|x: &f64| 1.0 - (x.ln() - 0.3f64.ln()).abs() / 6.0)
            .collect(),
    ));
    plot.log_x = true;
    draw_line_plot(&plot, &dir.join("curves.png"), Format::Png)?;
    let n = 6;
    let v: Vec<f32> = (0..n * n)
        .map(|i| {
            if i % n < i / n {
                f32::NAN
            } else {
                1.0 - ((i % n) as f32 - (i / n) as f32) / 10.0
            }
        })
        .collect();
    let mut map = HeatMap::new(&v, n, n)?;
    map.title = "rho(s, t)".into();
    map.x_label = "checkpoint t".into();
    map.y_label = "gates of checkpoint s".into();
    map.show_values = Some(2);
    draw_heat_map(&map, &dir.join("heat.png"), Format::Png)?;
    println!("wrote {}", dir.display());
    Ok(())
}
