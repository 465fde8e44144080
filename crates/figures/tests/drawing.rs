//! Write every kind of figure to a temporary folder and read the files back.

use figures::{
    draw_heat_map, draw_image_grid, draw_line_plot, make_grid, Error, Format, HeatMap, ImageGrid,
    LinePlot, Series,
};

/// A seeded deterministic value generator (xorshift), no external RNG needed.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 10_000) as f32 / 5_000.0 - 1.0
        })
        .collect()
}

fn read_png(path: &std::path::Path) -> image::RgbImage {
    image::open(path).expect("PNG reads back").to_rgb8()
}

#[test]
fn image_grid_png_has_layout_size_and_exact_cells() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [2, 3, 3, 20, 24];
    let data = values(shape.iter().product(), 1);
    let grid = ImageGrid::new(&data, shape)
        .unwrap()
        .column_titles(&["original", "tench", "cassette player"])
        .unwrap()
        .row_labels(&["image 0", "image 1"])
        .unwrap()
        .title("Excitation pullbacks");
    let path = dir.path().join("grid.png");
    let layout = draw_image_grid(&grid, &path, Format::Png).unwrap();
    let png = read_png(&path);
    assert_eq!((png.width(), png.height()), (layout.width, layout.height));
    // Text areas exist: the block is pushed right and down.
    assert!(layout.grid_x > 0 && layout.grid_y > 0);
    // The pixel block is exactly make_grid's output.
    let block = make_grid(&data, shape, 2, 1).unwrap();
    for y in 0..block.height {
        for x in 0..block.width {
            let p = png.get_pixel(layout.grid_x + x, layout.grid_y + y).0;
            assert_eq!(p, block.pixel(x, y), "pixel ({x}, {y}) of the block");
        }
    }
    // And cell (1, 2) starts where the layout says, with the normalised data.
    let (x0, y0) = layout.cell_origin(1, 2);
    let cell = &data[5 * 3 * 20 * 24..6 * 3 * 20 * 24];
    let norm = figures::grid::normalise_cell(cell).unwrap();
    for (y, x) in [(0usize, 0usize), (7, 11), (19, 23)] {
        let p = png.get_pixel(x0 + x as u32, y0 + y as u32).0;
        for k in 0..3 {
            assert_eq!(p[k], figures::grid::to_byte(norm[(k * 20 + y) * 24 + x]));
        }
    }
    // Column titles were drawn: the header strip is not plain white.
    let header_has_ink = (0..layout.width)
        .flat_map(|x| (layout.grid_y - layout.font_size * 2..layout.grid_y).map(move |y| (x, y)))
        .any(|(x, y)| png.get_pixel(x, y).0 != [255, 255, 255]);
    assert!(header_has_ink, "column titles must leave dark pixels");
}

#[test]
fn different_grids_give_different_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [1, 2, 1, 8, 8];
    let a = values(128, 2);
    let b = values(128, 3);
    let pa = dir.path().join("a.png");
    let pb = dir.path().join("b.png");
    draw_image_grid(&ImageGrid::new(&a, shape).unwrap(), &pa, Format::Png).unwrap();
    draw_image_grid(&ImageGrid::new(&b, shape).unwrap(), &pb, Format::Png).unwrap();
    let (ia, ib) = (read_png(&pa), read_png(&pb));
    assert_eq!(ia.dimensions(), ib.dimensions());
    // Without text, the canvas is exactly make_grid's size: 2·(8+2)+2 × 8+4.
    assert_eq!(ia.dimensions(), (22, 12));
    assert_ne!(ia.as_raw(), ib.as_raw());
}

#[test]
fn grey_cells_and_scale() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [1, 1, 1, 2, 2];
    let data = [0.0, 1.0, 2.0, 3.0];
    let path = dir.path().join("g.png");
    let grid = ImageGrid::new(&data, shape).unwrap().scale(4).unwrap();
    draw_image_grid(&grid, &path, Format::Png).unwrap();
    let png = read_png(&path);
    assert_eq!(png.dimensions(), (8 + 4, 8 + 4));
    assert_eq!(png.get_pixel(2, 2).0, [0, 0, 0]);
    assert_eq!(png.get_pixel(9, 9).0, [255, 255, 255]);
    assert_eq!(png.get_pixel(6, 2).0, [85, 85, 85]); // 1/3 -> round(85.0)
}

#[test]
fn image_grid_svg_embeds_bitmap_and_titles() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [1, 2, 3, 64, 64];
    let data = values(2 * 3 * 64 * 64, 4);
    let path = dir.path().join("grid.svg");
    let grid = ImageGrid::new(&data, shape)
        .unwrap()
        .column_titles(&["original", "golf ball"])
        .unwrap();
    draw_image_grid(&grid, &path, Format::Svg).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(
        svg.contains("data:image/png;base64,"),
        "bitmap embedded as PNG"
    );
    let texts: Vec<&str> = svg.split("<text").skip(1).collect();
    assert!(svg.contains("golf ball"), "{texts:?}");
    assert!(
        svg.matches("<rect").count() < 10,
        "not one element per pixel"
    );
    assert_eq!(svg.matches("<image").count(), 1);
}

#[test]
fn image_grid_errors_name_the_problem() {
    let data = values(10, 5);
    let e = ImageGrid::new(&data, [1, 1, 3, 2, 2]).unwrap_err();
    assert!(matches!(
        e,
        Error::ShapeMismatch {
            expected: 12,
            found: 10,
            ..
        }
    ));
    assert!(e.to_string().contains("12"));
    let data = values(24, 5);
    let g = ImageGrid::new(&data, [1, 2, 3, 2, 2]).unwrap();
    let e = g.clone().column_titles(&["only one"]).unwrap_err();
    assert!(
        e.to_string().contains("1 labels given for 2 columns"),
        "{e}"
    );
    assert!(g.clone().row_labels(&["a", "b"]).is_err());
    assert!(g.scale(0).is_err());
    let mut bad = values(24, 6);
    bad[13] = f32::NAN;
    let dir = tempfile::tempdir().unwrap();
    let e = draw_image_grid(
        &ImageGrid::new(&bad, [1, 2, 3, 2, 2]).unwrap(),
        &dir.path().join("x.png"),
        Format::Png,
    )
    .unwrap_err();
    assert!(e.to_string().contains("row 0, column 1"), "{e}");
    // An unwritable path is an Io error naming the path.
    let e = draw_image_grid(
        &ImageGrid::new(&data, [1, 2, 3, 2, 2]).unwrap(),
        &dir.path().join("no/such/dir/x.png"),
        Format::Png,
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Io { .. }) && e.to_string().contains("no/such/dir"),
        "{e}"
    );
}

#[test]
fn format_parsing() {
    assert_eq!("PNG".parse::<Format>().unwrap(), Format::Png);
    assert_eq!("svg".parse::<Format>().unwrap(), Format::Svg);
    assert!("jpg".parse::<Format>().is_err());
    assert_eq!(Format::from_path("a/b.SVG".as_ref()).unwrap(), Format::Svg);
    assert!(Format::from_path("a/b".as_ref()).is_err());
}

#[test]
fn line_plot_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let t = vec![0.01, 0.03, 0.1, 0.3, 1.0, 3.0];
    let make = |k: f64| {
        LinePlot::new("cosine to vanilla", "temperature T", "cosine similarity")
            .with_series(Series::new(
                "resnet",
                t.clone(),
                t.iter().map(|x| 1.0 / (1.0 + k * x)).collect(),
            ))
            .with_series(Series::new(
                "vgg",
                t.clone(),
                t.iter().map(|x| 1.0 / (1.0 + 2.0 * k * x)).collect(),
            ))
    };
    let mut plot = make(1.0);
    plot.log_x = true;
    let p1 = dir.path().join("c1.png");
    draw_line_plot(&plot, &p1, Format::Png).unwrap();
    let i1 = read_png(&p1);
    assert_eq!(i1.dimensions(), (800, 500));
    let mut plot2 = make(5.0);
    plot2.log_x = true;
    let p2 = dir.path().join("c2.png");
    draw_line_plot(&plot2, &p2, Format::Png).unwrap();
    assert_ne!(i1.as_raw(), read_png(&p2).as_raw());
    // Series colours appear (tab10 blue and orange lines).
    assert!(i1.pixels().any(|p| p.0 == [31, 119, 180]));
    assert!(i1.pixels().any(|p| p.0 == [255, 127, 14]));
    let ps = dir.path().join("c.svg");
    draw_line_plot(&plot, &ps, Format::Svg).unwrap();
    let svg = std::fs::read_to_string(&ps).unwrap();
    assert!(svg.contains("temperature T") && svg.contains("resnet"));
}

#[test]
fn line_plot_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.png");
    let empty = LinePlot::new("t", "x", "y");
    assert!(matches!(
        draw_line_plot(&empty, &p, Format::Png),
        Err(Error::Empty { .. })
    ));
    let bad = LinePlot::new("t", "x", "y").with_series(Series::new("s", vec![1.0, 2.0], vec![1.0]));
    assert!(matches!(
        draw_line_plot(&bad, &p, Format::Png),
        Err(Error::ShapeMismatch { .. })
    ));
    let mut logbad =
        LinePlot::new("t", "x", "y").with_series(Series::new("s", vec![0.0, 2.0], vec![1.0, 2.0]));
    logbad.log_x = true;
    let e = draw_line_plot(&logbad, &p, Format::Png).unwrap_err();
    assert!(e.to_string().contains("x > 0"), "{e}");
    let nan = LinePlot::new("t", "x", "y").with_series(Series::new("s", vec![1.0], vec![f64::NAN]));
    assert!(matches!(
        draw_line_plot(&nan, &p, Format::Png),
        Err(Error::NonFinite { .. })
    ));
    assert!(!p.exists(), "nothing written on error");
}

#[test]
fn heat_map_png_values_and_missing_cells() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (4, 5);
    let mut v: Vec<f32> = (0..rows * cols).map(|i| i as f32 / 19.0).collect();
    v[3] = f32::NAN; // missing
    let mut map = HeatMap::new(&v, rows, cols).unwrap();
    map.title = "rho(s, t)".into();
    map.x_label = "t".into();
    map.y_label = "s".into();
    map.show_values = Some(2);
    map.row_labels = (0..rows).map(|r| format!("s={r}")).collect();
    let p = dir.path().join("h.png");
    draw_heat_map(&map, &p, Format::Png).unwrap();
    let img = read_png(&p);
    assert!(img.width() > cols as u32 * 48 && img.height() > rows as u32 * 48);
    // Both ends of viridis and the missing grey are present.
    assert!(img.pixels().any(|p| p.0 == [68, 1, 84]));
    assert!(img.pixels().any(|p| p.0 == [253, 231, 37]));
    assert!(img.pixels().any(|p| p.0 == [220, 220, 220]));
    // Different values give a different picture.
    let w: Vec<f32> = v.iter().map(|x| 1.0 - x).collect();
    let mut map2 = HeatMap::new(&w, rows, cols).unwrap();
    map2.title = map.title.clone();
    map2.x_label = "t".into();
    map2.y_label = "s".into();
    map2.show_values = Some(2);
    map2.row_labels = map.row_labels.clone();
    let p2 = dir.path().join("h2.png");
    draw_heat_map(&map2, &p2, Format::Png).unwrap();
    assert_ne!(img.as_raw(), read_png(&p2).as_raw());
    // A 1×1 map draws too.
    let one = [0.5f32];
    let p1 = dir.path().join("one.png");
    draw_heat_map(&HeatMap::new(&one, 1, 1).unwrap(), &p1, Format::Png).unwrap();
    assert!(read_png(&p1).width() > 48);
    let ps = dir.path().join("h.svg");
    draw_heat_map(&map, &ps, Format::Svg).unwrap();
    assert!(std::fs::read_to_string(&ps).unwrap().contains("s=3"));
}

#[test]
fn heat_map_errors() {
    assert!(matches!(
        HeatMap::new(&[1.0; 5], 2, 3),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(HeatMap::new(&[], 0, 3), Err(Error::Empty { .. })));
    assert!(matches!(
        HeatMap::new(&[1.0, f32::INFINITY], 1, 2),
        Err(Error::NonFinite { index: 1, .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.png");
    let v = [1.0, 2.0];
    let mut m = HeatMap::new(&v, 1, 2).unwrap();
    m.col_labels = vec!["a".into()];
    assert!(matches!(
        draw_heat_map(&m, &p, Format::Png),
        Err(Error::LabelCount { .. })
    ));
    let nan = [f32::NAN, f32::NAN];
    let m = HeatMap::new(&nan, 1, 2).unwrap();
    assert!(matches!(
        draw_heat_map(&m, &p, Format::Png),
        Err(Error::Empty { .. })
    ));
    let mut m = HeatMap::new(&v, 1, 2).unwrap();
    m.value_range = Some((1.0, 1.0));
    assert!(matches!(
        draw_heat_map(&m, &p, Format::Png),
        Err(Error::InvalidParameter { .. })
    ));
}
