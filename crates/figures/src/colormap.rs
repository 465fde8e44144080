//! Colour maps for heat maps.
//!
//! [`viridis`] is a piecewise-linear interpolation through nine samples of matplotlib's
//! viridis (at 0, 1/8, …, 1), close to the original to within a few levels per channel
//! and, like it, perceptually ordered and readable in greyscale.

/// Nine samples of matplotlib's viridis, at t = 0, 1/8, …, 1.
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 82, 139],
    [44, 114, 142],
    [33, 145, 140],
    [40, 174, 128],
    [94, 201, 98],
    [170, 220, 50],
    [253, 231, 37],
];

/// The viridis colour of `t` in `[0, 1]` (clamped; NaN maps to 0).
pub fn viridis(t: f64) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mut out = [0u8; 3];
    for k in 0..3 {
        out[k] = (a[k] as f64 + f * (b[k] as f64 - a[k] as f64)).round() as u8;
    }
    out
}

/// Relative luminance in `[0, 1]` (Rec. 709 weights), to pick black or white text.
pub fn luminance(c: [u8; 3]) -> f64 {
    (0.2126 * c[0] as f64 + 0.7152 * c[1] as f64 + 0.0722 * c[2] as f64) / 255.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_ends_and_monotone_luminance() {
        assert_eq!(viridis(0.0), VIRIDIS[0]);
        assert_eq!(viridis(1.0), VIRIDIS[8]);
        assert_eq!(viridis(0.5), VIRIDIS[4]);
        assert_eq!(viridis(-3.0), VIRIDIS[0]);
        let mut last = -1.0;
        for i in 0..=100 {
            let l = luminance(viridis(i as f64 / 100.0));
            assert!(l > last, "luminance must increase along viridis");
            last = l;
        }
    }
}
