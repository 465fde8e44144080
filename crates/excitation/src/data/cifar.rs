//! CIFAR-10 in its binary format (Krizhevsky 2009): folder `cifar-10-batches-bin` holding
//! `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`, each a sequence of
//! 3073-byte records: one label byte, then 1024 red, 1024 green and 1024 blue bytes
//! (row-major 32×32), which is already `[C, H, W]` order.

use std::path::{Path, PathBuf};

use super::{Dataset, Split};
use crate::experiment_error::{ExperimentError, ExperimentResult};

/// The ten CIFAR-10 classes, by label index.
pub const CIFAR10_CLASSES: &[&str] = &[
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// How to get CIFAR-10, quoted in every error about it.
pub const CIFAR10_HINT: &str =
    "download and unpack https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz \
(it holds `cifar-10-batches-bin/`) or run `curtain data fetch cifar10`";

const RECORD: usize = 1 + 3 * 32 * 32;

/// Reads the CIFAR-10 `split` from `dir`, which is either the `cifar-10-batches-bin`
/// folder itself or the folder that contains it.
pub fn cifar10(dir: &Path, split: Split) -> ExperimentResult<Dataset> {
    let dir = if dir.join("cifar-10-batches-bin").is_dir() {
        dir.join("cifar-10-batches-bin")
    } else {
        dir.to_path_buf()
    };
    let names: Vec<String> = match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".into()],
    };
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for name in names {
        let path = dir.join(&name);
        if !path.is_file() {
            return Err(ExperimentError::MissingData {
                path,
                hint: CIFAR10_HINT.into(),
            });
        }
        let bytes = std::fs::read(&path).map_err(|e| ExperimentError::io(&path, e))?;
        parse_batch(&bytes, &mut pixels, &mut labels).map_err(|reason| corrupt(&path, reason))?;
    }
    Dataset::new(pixels, labels, 3, 32, 32, CIFAR10_CLASSES)
}

fn corrupt(path: &Path, reason: String) -> ExperimentError {
    ExperimentError::CorruptData {
        path: PathBuf::from(path),
        reason,
        hint: CIFAR10_HINT.into(),
    }
}

/// Appends the records of one batch file to `pixels` / `labels`.
pub fn parse_batch(bytes: &[u8], pixels: &mut Vec<u8>, labels: &mut Vec<u8>) -> Result<(), String> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(format!(
            "{} bytes is not a whole number of {RECORD}-byte records (label + 3×32×32 pixels)",
            bytes.len()
        ));
    }
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] as usize >= CIFAR10_CLASSES.len() {
            return Err(format!("record {i} has label {}, expected 0..10", rec[0]));
        }
        labels.push(rec[0]);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

/// Encodes images and labels as a CIFAR-10 batch file (used by tests).
///
/// # Shapes
/// `pixels`: `[N, 3, 32, 32]` flattened; `labels`: `[N]`.
pub fn encode_batch(pixels: &[u8], labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.len() * RECORD);
    for (i, &l) in labels.iter().enumerate() {
        out.push(l);
        out.extend_from_slice(&pixels[i * 3072..(i + 1) * 3072]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty `cifar-10-batches-bin` folder, removed with its temporary parent on drop.
    fn tmp(name: &str) -> crate::testing::TempPath {
        let d = crate::testing::temp_path(&format!("{name}/cifar-10-batches-bin"));
        std::fs::create_dir_all(&*d).unwrap();
        d
    }

    #[test]
    fn reads_train_and_test_batches() {
        let dir = tmp("ok");
        let mut all_pixels = Vec::new();
        let mut all_labels = Vec::new();
        for b in 1..=5 {
            let labels: Vec<u8> = (0..3).map(|i| ((b + i) % 10) as u8).collect();
            let pixels: Vec<u8> = (0..3 * 3072).map(|i| ((i * b) % 256) as u8).collect();
            std::fs::write(
                dir.join(format!("data_batch_{b}.bin")),
                encode_batch(&pixels, &labels),
            )
            .unwrap();
            all_pixels.extend(pixels);
            all_labels.extend(labels);
        }
        std::fs::write(dir.join("test_batch.bin"), encode_batch(&[9; 3072], &[4])).unwrap();
        // The parent folder works as well as the batches folder.
        let train = cifar10(dir.parent().unwrap(), Split::Train).unwrap();
        assert_eq!(
            (train.len(), train.channels, train.height, train.width),
            (15, 3, 32, 32)
        );
        assert_eq!(train.pixels, all_pixels);
        assert_eq!(train.labels, all_labels);
        let test = cifar10(&dir, Split::Test).unwrap();
        assert_eq!(test.labels, vec![4]);
        assert!(test.pixels.iter().all(|&p| p == 9));
    }

    #[test]
    fn missing_and_corrupt_batches_are_errors() {
        let dir = tmp("bad");
        let err = cifar10(&dir, Split::Test).unwrap_err().to_string();
        assert!(
            err.contains("test_batch.bin") && err.contains("curtain data fetch cifar10"),
            "{err}"
        );
        std::fs::write(dir.join("test_batch.bin"), vec![0u8; 3000]).unwrap();
        let err = cifar10(&dir, Split::Test).unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("3073"), "{err}");
        let mut rec = encode_batch(&[0; 3072], &[0]);
        rec[0] = 11;
        std::fs::write(dir.join("test_batch.bin"), rec).unwrap();
        let err = cifar10(&dir, Split::Test).unwrap_err().to_string();
        assert!(err.contains("label 11"), "{err}");
    }
}
