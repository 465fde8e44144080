//! NumPy `.npy` files (format version 1.0), written by hand: a magic string, a Python-dict
//! header padded to a multiple of 64 bytes, then little-endian `float32` values in C order.
//! `numpy.load` reads them directly.

use std::io::Write;
use std::path::Path;

use crate::error::{CliError, Result};

/// The bytes of a `.npy` file holding `values` with `shape` (C order, `<f4`).
///
/// # Shapes
/// `values.len()` must equal the product of `shape`.
pub fn encode(values: &[f32], shape: &[usize]) -> Vec<u8> {
    assert_eq!(
        values.len(),
        shape.iter().product::<usize>(),
        "npy: values do not fill the shape"
    );
    let dims: String = match shape.len() {
        1 => format!("{},", shape[0]),
        _ => shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // magic (6) + version (2) + header length (2) + header + '\n' ≡ 0 (mod 64)
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Write `values` with `shape` to `path` as `.npy`.
///
/// # Shapes
/// `values.len()` must equal the product of `shape`.
pub fn write(path: &Path, values: &[f32], shape: &[usize]) -> Result<()> {
    let bytes = encode(values, shape);
    let write_err = |source| CliError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::create(path).map_err(write_err)?;
    f.write_all(&bytes).map_err(write_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_data_follows() {
        let b = encode(&[1.0, -2.5, 3.0, 0.0, 5.0, 6.0], &[2, 3]);
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(header.ends_with('\n'));
        let data = &b[10 + hlen..];
        assert_eq!(data.len(), 24);
        assert_eq!(f32::from_le_bytes(data[4..8].try_into().unwrap()), -2.5);
        let one = encode(&[7.0], &[1]);
        let hlen = u16::from_le_bytes([one[8], one[9]]) as usize;
        assert!(std::str::from_utf8(&one[10..10 + hlen])
            .unwrap()
            .contains("'shape': (1,)"));
    }
}
