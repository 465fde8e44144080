//! Rendering a figure onto either backend and writing the file.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::font;
use crate::format::Format;

/// A figure that can draw itself on any plotters backend.
pub(crate) trait Figure {
    /// Canvas size in pixels, (width, height).
    fn size(&self) -> (u32, u32);
    /// Draw onto a blank (white) canvas of [`Figure::size`].
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Draw `figure` and write it to `path` in `format`.
pub(crate) fn save<F: Figure>(figure: &F, path: &Path, format: Format) -> Result<()> {
    font::ensure_registered()?;
    let (w, h) = figure.size();
    if w == 0 || h == 0 {
        return Err(Error::Empty {
            what: "figure",
            message: format!("canvas would be {w}×{h} pixels"),
        });
    }
    match format {
        Format::Png => {
            let mut buf = vec![255u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
                root.fill(&WHITE).map_err(Error::drawing)?;
                figure.draw(&root)?;
                root.present().map_err(Error::drawing)?;
            }
            write_png(path, w, h, &buf)
        }
        Format::Svg => {
            let mut s = String::new();
            {
                let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
                root.fill(&WHITE).map_err(Error::drawing)?;
                figure.draw(&root)?;
                root.present().map_err(Error::drawing)?;
            }
            // plotters-svg 0.3.7 writes `data:png;base64,`, which browsers reject; the
            // MIME type of a PNG is `image/png`.
            let s = s.replace("href=\"data:png;base64,", "href=\"data:image/png;base64,");
            std::fs::write(path, s).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    }
}

/// Encode an RGB8 buffer as PNG at `path`.
pub(crate) fn write_png(path: &Path, w: u32, h: u32, rgb: &[u8]) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let writer = std::io::BufWriter::new(file);
    let encoder = image::codecs::png::PngEncoder::new(writer);
    image::ImageEncoder::write_image(encoder, rgb, w, h, image::ExtendedColorType::Rgb8).map_err(
        |e| match e {
            image::ImageError::IoError(source) => Error::Io {
                path: path.to_path_buf(),
                source,
            },
            other => Error::Encode {
                path: path.to_path_buf(),
                message: other.to_string(),
            },
        },
    )
}

/// A text style in the embedded font.
pub(crate) fn text_style(size: u32) -> TextStyle<'static> {
    (font::FAMILY, size as f64).into_font().color(&BLACK)
}

/// Width and height in pixels of `text` set at `size`.
pub(crate) fn text_size(text: &str, size: u32) -> Result<(u32, u32)> {
    text_style(size).font.box_size(text).map_err(Error::drawing)
}

/// Text that fits in `max_width` pixels: the font shrinks down to `min_size`, then the
/// text is cut and ends with "…". Returns the text and the font size to use.
pub(crate) fn fit_text(
    text: &str,
    size: u32,
    min_size: u32,
    max_width: u32,
) -> Result<(String, u32)> {
    let width = |t: &str, s: u32| -> Result<u32> { Ok(text_size(t, s)?.0) };
    let mut s = size;
    while s > min_size && width(text, s)? > max_width {
        s -= 1;
    }
    if width(text, s)? <= max_width {
        return Ok((text.to_string(), s));
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (0..chars.len()).rev() {
        let cut: String = chars[..keep].iter().collect::<String>() + "…";
        if width(&cut, s)? <= max_width {
            return Ok((cut, s));
        }
    }
    Ok((String::new(), s))
}
