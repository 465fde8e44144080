//! `curtain data fetch cifar10|fashion-mnist`: where the data sets come from and how a
//! download is checked before it is put in place.
//!
//! The actual HTTP transfer is injected (the CLI passes its download function), so this
//! module is tested without a network.
//!
//! Checksums. Fashion-MNIST: the SHA-256 of each *decompressed* IDX payload, computed from
//! Debian's `dataset-fashion-mnist` 1.0 files (Debian recompresses the `.gz`, so the
//! payload, not the archive, is what both copies share). CIFAR-10: the archive's published
//! size (170 052 171 bytes) plus a full structural check of every batch file after
//! unpacking (record size, label range, 10 000 records each); no SHA-256 of the archive
//! could be computed here without network access.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::DatasetKind;
use crate::experiment_error::{ExperimentError, ExperimentResult};

/// One file of a data set's official distribution.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// Where to download it from.
    pub url: &'static str,
    /// The file name to store it under.
    pub file: &'static str,
    /// SHA-256 (lower-case hex) of the decompressed payload, when known.
    pub payload_sha256: Option<&'static str>,
    /// Size in bytes of the downloaded file, when known.
    pub size: Option<u64>,
}

const FMNIST_BASE: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

/// The files to download for `kind`.
pub fn sources(kind: DatasetKind) -> &'static [Source] {
    match kind {
        DatasetKind::FashionMnist => &[
            Source {
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
                file: "train-images-idx3-ubyte.gz",
                payload_sha256: Some("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
                size: None,
            },
            Source {
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
                file: "train-labels-idx1-ubyte.gz",
                payload_sha256: Some("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
                size: None,
            },
            Source {
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
                file: "t10k-images-idx3-ubyte.gz",
                payload_sha256: Some("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
                size: None,
            },
            Source {
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
                file: "t10k-labels-idx1-ubyte.gz",
                payload_sha256: Some("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
                size: None,
            },
        ],
        DatasetKind::Cifar10 => &[Source {
            url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            file: "cifar-10-binary.tar.gz",
            payload_sha256: None,
            size: Some(170_052_171),
        }],
    }
}

/// The Fashion-MNIST base address (for documentation and `--mirror`).
pub fn fashion_mnist_base() -> &'static str {
    FMNIST_BASE
}

/// SHA-256 of a gzip stream's decompressed contents, lower-case hex.
pub fn gunzip_sha256(path: &Path) -> ExperimentResult<String> {
    let f = std::fs::File::open(path).map_err(|e| ExperimentError::io(path, e))?;
    let mut dec = flate2::read::GzDecoder::new(std::io::BufReader::new(f));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = dec.read(&mut buf).map_err(|e| ExperimentError::CorruptData {
            path: path.to_path_buf(),
            reason: format!("not a valid gzip stream ({e})"),
            hint: "delete it and fetch again".into(),
        })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Downloads `kind` into `dest` with `download(url, target_path)`, checks every file and
/// moves it into place only when it passes. Returns the folder to pass to the loaders.
///
/// `download` must write the whole body of `url` to the given path (the CLI's
/// sha256-checking atomic downloader, or a test double).
pub fn fetch(
    kind: DatasetKind,
    dest: &Path,
    download: &mut dyn FnMut(&str, &Path) -> ExperimentResult<()>,
) -> ExperimentResult<PathBuf> {
    std::fs::create_dir_all(dest).map_err(|e| ExperimentError::io(dest, e))?;
    for src in sources(kind) {
        let final_path = dest.join(src.file);
        let partial = dest.join(format!("{}.part", src.file));
        download(src.url, &partial)?;
        let check = check_file(src, &partial);
        if let Err(e) = check {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, &final_path).map_err(|e| ExperimentError::io(&final_path, e))?;
    }
    match kind {
        DatasetKind::FashionMnist => {
            super::fashion_mnist(dest, super::Split::Test)?;
            Ok(dest.to_path_buf())
        }
        DatasetKind::Cifar10 => {
            let archive = dest.join("cifar-10-binary.tar.gz");
            let f = std::fs::File::open(&archive).map_err(|e| ExperimentError::io(&archive, e))?;
            tar::Archive::new(flate2::read::GzDecoder::new(f)).unpack(dest).map_err(|e| {
                ExperimentError::CorruptData {
                    path: archive.clone(),
                    reason: format!("cannot unpack ({e})"),
                    hint: "delete it and fetch again".into(),
                }
            })?;
            let dir = dest.join("cifar-10-batches-bin");
            for split in [super::Split::Train, super::Split::Test] {
                let ds = super::cifar10(&dir, split)?;
                let want = if split == super::Split::Train { 50_000 } else { 10_000 };
                if ds.len() != want {
                    return Err(ExperimentError::CorruptData {
                        path: dir.clone(),
                        reason: format!("{:?} split has {} images, expected {want}", split, ds.len()),
                        hint: "delete the folder and fetch again".into(),
                    });
                }
            }
            Ok(dir)
        }
    }
}

fn check_file(src: &Source, path: &Path) -> ExperimentResult<()> {
    if let Some(size) = src.size {
        let got = std::fs::metadata(path).map_err(|e| ExperimentError::io(path, e))?.len();
        if got != size {
            return Err(ExperimentError::Download {
                url: src.url.into(),
                reason: format!("{got} bytes, expected {size}"),
            });
        }
    }
    if let Some(want) = src.payload_sha256 {
        let got = gunzip_sha256(path)?;
        if got != want {
            return Err(ExperimentError::Download {
                url: src.url.into(),
                reason: format!("decompressed sha256 {got}, expected {want}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the Debian package installed, a "download" that copies its files passes every
    /// check, and a tampered file is refused and never moved into place.
    #[test]
    fn fashion_mnist_checksums_match_debian_files_and_reject_tampering() {
        let debian = Path::new(super::super::FASHION_MNIST_DEFAULT_DIR);
        if !debian.join("t10k-labels-idx1-ubyte.gz").is_file() {
            eprintln!("dataset-fashion-mnist not installed; skipping");
            return;
        }
        let dest = std::env::temp_dir().join(format!("curtain-fetch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dest);
        let mut copy = |url: &str, to: &Path| -> ExperimentResult<()> {
            let name = url.rsplit('/').next().unwrap();
            std::fs::copy(debian.join(name), to).map_err(|e| ExperimentError::io(to, e))?;
            Ok(())
        };
        let dir = fetch(DatasetKind::FashionMnist, &dest, &mut copy).unwrap();
        assert_eq!(super::super::fashion_mnist(&dir, super::super::Split::Test).unwrap().len(), 10_000);

        // Tampered: serve the test labels for every file.
        let dest2 = dest.join("bad");
        let mut wrong = |_: &str, to: &Path| -> ExperimentResult<()> {
            std::fs::copy(debian.join("t10k-labels-idx1-ubyte.gz"), to)
                .map_err(|e| ExperimentError::io(to, e))?;
            Ok(())
        };
        let err = fetch(DatasetKind::FashionMnist, &dest2, &mut wrong).unwrap_err().to_string();
        assert!(err.contains("sha256") && err.contains("train-images"), "{err}");
        assert!(!dest2.join("train-images-idx3-ubyte.gz").exists());
        assert!(!dest2.join("train-images-idx3-ubyte.gz.part").exists());
    }

    #[test]
    fn cifar_archive_of_wrong_size_is_refused() {
        let dest = std::env::temp_dir().join(format!("curtain-fetch-c-{}", std::process::id()));
        let mut tiny = |_: &str, to: &Path| -> ExperimentResult<()> {
            std::fs::write(to, b"not cifar").map_err(|e| ExperimentError::io(to, e))
        };
        let err = fetch(DatasetKind::Cifar10, &dest, &mut tiny).unwrap_err().to_string();
        assert!(err.contains("9 bytes, expected 170052171"), "{err}");
    }
}
