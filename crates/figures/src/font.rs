//! The embedded font (DejaVu Sans) and its registration with plotters' `ab_glyph` text
//! renderer. No system font is ever looked up.

use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::error::{Error, Result};

/// DejaVu Sans 2.37, unmodified (Bitstream Vera licence, see `fonts/LICENSE-DejaVu.txt`).
pub static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// The font family name every drawing in this crate uses.
pub const FAMILY: &str = "sans-serif";

static REGISTERED: OnceLock<bool> = OnceLock::new();

/// Register the embedded font under [`FAMILY`] (once per process; later calls are free).
pub fn ensure_registered() -> Result<()> {
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Drawing(
            "the embedded DejaVu Sans font could not be parsed (corrupt build?)".into(),
        ))
    }
}
