//! Fashion-MNIST in the IDX format (Xiao, Rasul & Vollgraf 2017; MIT licence), read from
//! `*-ubyte.gz` or uncompressed `*-ubyte` files.
//!
//! IDX: a big-endian header `0x00 0x00 <type> <ndim>`, then `ndim` big-endian `u32` sizes,
//! then the data. Images are type `0x08` (u8) with 3 dimensions, labels type `0x08` with 1.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Dataset, Split};
use crate::experiment_error::{ExperimentError, ExperimentResult};

/// Where Debian's `dataset-fashion-mnist` package installs the files.
pub const FASHION_MNIST_DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The ten Fashion-MNIST classes, by label index.
pub const FASHION_MNIST_CLASSES: &[&str] = &[
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// How to get Fashion-MNIST, quoted in every error about it.
pub const FASHION_MNIST_HINT: &str =
    "install Debian's package with `apt-get install dataset-fashion-mnist` \
(files in /usr/share/datasets/fashion-mnist) or run `curtain data fetch fashion-mnist`";

/// Reads the Fashion-MNIST `split` from `dir` (files `train-images-idx3-ubyte[.gz]`,
/// `train-labels-idx1-ubyte[.gz]`, `t10k-…`).
pub fn fashion_mnist(dir: &Path, split: Split) -> ExperimentResult<Dataset> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images_path = find_idx(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find_idx(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let (dims, pixels) = read_idx(&images_path)?;
    let (ldims, labels) = read_idx(&labels_path)?;
    let corrupt = |path: &Path, reason: String| ExperimentError::CorruptData {
        path: path.to_path_buf(),
        reason,
        hint: FASHION_MNIST_HINT.into(),
    };
    if dims.len() != 3 {
        return Err(corrupt(
            &images_path,
            format!("image file has {} dimensions, expected 3", dims.len()),
        ));
    }
    if ldims.len() != 1 {
        return Err(corrupt(
            &labels_path,
            format!("label file has {} dimensions, expected 1", ldims.len()),
        ));
    }
    if dims[0] != ldims[0] {
        return Err(corrupt(
            &labels_path,
            format!(
                "{} labels for {} images in `{}`",
                ldims[0],
                dims[0],
                images_path.display()
            ),
        ));
    }
    if let Some(&bad) = labels
        .iter()
        .find(|&&l| l as usize >= FASHION_MNIST_CLASSES.len())
    {
        return Err(corrupt(
            &labels_path,
            format!("label {bad} is not a class index 0..10"),
        ));
    }
    Dataset::new(pixels, labels, 1, dims[1], dims[2], FASHION_MNIST_CLASSES)
}

fn find_idx(dir: &Path, stem: &str) -> ExperimentResult<PathBuf> {
    for candidate in [dir.join(format!("{stem}.gz")), dir.join(stem)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(ExperimentError::MissingData {
        path: dir.join(format!("{stem}.gz")),
        hint: FASHION_MNIST_HINT.into(),
    })
}

/// Reads one IDX file of unsigned bytes (gzip-compressed if the name ends in `.gz`) and
/// returns its dimensions and data.
pub fn read_idx(path: &Path) -> ExperimentResult<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).map_err(|e| ExperimentError::io(path, e))?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| ExperimentError::CorruptData {
                path: path.to_path_buf(),
                reason: format!("not a valid gzip stream ({e})"),
                hint: FASHION_MNIST_HINT.into(),
            })?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|reason| ExperimentError::CorruptData {
        path: path.to_path_buf(),
        reason,
        hint: FASHION_MNIST_HINT.into(),
    })
}

/// Parses IDX bytes of type `u8`.
pub fn parse_idx(bytes: &[u8]) -> Result<(Vec<usize>, Vec<u8>), String> {
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes, too short for an IDX header",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "magic starts with {:#04x} {:#04x}, expected 0x00 0x00",
            bytes[0], bytes[1]
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "element type {:#04x}, expected 0x08 (unsigned byte)",
            bytes[2]
        ));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if ndim == 0 || bytes.len() < header {
        return Err(format!(
            "header of {ndim} dimensions does not fit in {} bytes",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|d| {
            let b = &bytes[4 + 4 * d..8 + 4 * d];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let expected: usize = dims.iter().product();
    let got = bytes.len() - header;
    if got != expected {
        return Err(format!(
            "header promises {dims:?} = {expected} bytes of data, file holds {got}"
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Encodes `u8` data as IDX (used by tests and by `curtain data` to write subsets).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn write_set(dir: &Path, n: usize, compress: bool) -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..n * 28 * 28).map(|i| (i * 7 % 251) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let img = encode_idx(&[n, 28, 28], &pixels);
        let lab = encode_idx(&[n], &labels);
        let (suffix, img, lab) = if compress {
            (".gz", gz(&img), gz(&lab))
        } else {
            ("", img, lab)
        };
        std::fs::write(dir.join(format!("t10k-images-idx3-ubyte{suffix}")), img).unwrap();
        std::fs::write(dir.join(format!("t10k-labels-idx1-ubyte{suffix}")), lab).unwrap();
        (pixels, labels)
    }

    /// An empty folder, removed with its temporary parent on drop.
    fn tmp(name: &str) -> crate::testing::TempPath {
        let d = crate::testing::temp_path(name);
        std::fs::create_dir_all(&*d).unwrap();
        d
    }

    #[test]
    fn reads_gzipped_and_plain_idx() {
        for compress in [true, false] {
            let dir = tmp(&format!("ok{compress}"));
            let (pixels, labels) = write_set(&dir, 5, compress);
            let ds = fashion_mnist(&dir, Split::Test).unwrap();
            assert_eq!((ds.len(), ds.channels, ds.height, ds.width), (5, 1, 28, 28));
            assert_eq!(ds.pixels, pixels);
            assert_eq!(ds.labels, labels);
            assert_eq!(ds.image(3), &pixels[3 * 784..4 * 784]);
        }
    }

    #[test]
    fn missing_files_say_how_to_get_them() {
        let dir = tmp("missing");
        let err = fashion_mnist(&dir, Split::Train).unwrap_err().to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
        assert!(
            err.contains("apt-get install dataset-fashion-mnist"),
            "{err}"
        );
        assert!(err.contains("curtain data fetch fashion-mnist"), "{err}");
    }

    #[test]
    fn corrupt_files_are_errors() {
        let dir = tmp("corrupt");
        write_set(&dir, 4, false);
        // Truncate the image file: header promises 4·784 bytes.
        let p = dir.join("t10k-images-idx3-ubyte");
        let mut b = std::fs::read(&p).unwrap();
        b.truncate(b.len() - 10);
        std::fs::write(&p, &b).unwrap();
        let err = fashion_mnist(&dir, Split::Test).unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("3126"), "{err}");
        // Not gzip at all.
        std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), b"hello").unwrap();
        let err = fashion_mnist(&dir, Split::Test).unwrap_err().to_string();
        assert!(err.contains("gzip"), "{err}");
        // Wrong magic.
        assert!(parse_idx(&[1, 0, 8, 1, 0, 0, 0, 0])
            .unwrap_err()
            .contains("magic"));
        // Label out of range.
        let dir = tmp("badlabel");
        write_set(&dir, 2, false);
        std::fs::write(
            dir.join("t10k-labels-idx1-ubyte"),
            encode_idx(&[2], &[1, 12]),
        )
        .unwrap();
        let err = fashion_mnist(&dir, Split::Test).unwrap_err().to_string();
        assert!(err.contains("label 12"), "{err}");
    }

    /// Reads the real files when Debian's package is installed (skips otherwise).
    #[test]
    fn reads_debian_package_when_present() {
        let dir = Path::new(FASHION_MNIST_DEFAULT_DIR);
        if !dir.join("t10k-labels-idx1-ubyte.gz").is_file() {
            eprintln!("dataset-fashion-mnist not installed; skipping");
            return;
        }
        let ds = fashion_mnist(dir, Split::Test).unwrap();
        assert_eq!((ds.len(), ds.height, ds.width), (10_000, 28, 28));
        // Fashion-MNIST's test set is balanced: 1000 images per class.
        let mut counts = [0usize; 10];
        ds.labels.iter().for_each(|&l| counts[l as usize] += 1);
        assert_eq!(counts, [1000; 10]);
    }
}
