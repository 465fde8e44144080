//! Output formats: PNG (default, pixel-exact image cells) and SVG (vector text and axes,
//! image cells embedded as PNG).

use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The file format of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Portable Network Graphics, 8-bit RGB.
    #[default]
    Png,
    /// Scalable Vector Graphics; image cells are embedded as base64 PNG.
    Svg,
}

impl Format {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }

    /// The format named by a path's extension (`.png` or `.svg`, any case).
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        ext.parse().map_err(|_| {
            Error::UnknownFormat(format!(
                "{ext}` (from the path `{}`; end it with .png or .svg",
                path.display()
            ))
        })
    }
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            _ => Err(Error::UnknownFormat(s.to_string())),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.extension())
    }
}
