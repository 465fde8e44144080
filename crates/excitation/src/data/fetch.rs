//! `curtain data fetch cifar10|fashion-mnist`: where the data sets come from, how each
//! download is checked before it is put in place, and how CIFAR-10's archive is unpacked.
//!
//! Sources and checksums:
//! - Fashion-MNIST: the four `.gz` files of Zalando's repository
//!   (`https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/`),
//!   each checked against the MD5 that torchvision's `FashionMNIST` publishes for it, and its
//!   decompressed IDX payload against a SHA-256 computed here from Debian's
//!   `dataset-fashion-mnist` 1.0 files (Debian recompresses the `.gz`, so the payload, not
//!   the archive, is what both copies share).
//! - CIFAR-10: `https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz`, checked against
//!   its size (170 052 171 bytes) and the MD5 published on the data set's page
//!   (`c32a1d4ab5d03f1284b67883e8d87530`); after unpacking, every batch file is read and
//!   the splits must hold 50 000 and 10 000 images.
//!
//! A file lands under its final name only after every check passed (it is downloaded as
//! `<name>.download`, checked, then renamed); CIFAR-10's folder is unpacked into a
//! temporary folder, read back, then renamed into place. A file already present that
//! passes its checks is not downloaded again.
//!
//! `--mirror` replaces the base address; `--md5`/`--sha256 FILE=HEX` replace a file's
//! built-in checks (for mirrors serving other copies, and for the loopback tests). With
//! any checksum replaced, the data set is not the official one, so the image counts are
//! not enforced (the files must still parse).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::md5::Md5;
use super::{DatasetKind, Split};
use crate::download;
use crate::error::Error;
use crate::experiment_error::{ExperimentError, ExperimentResult};

/// One file of a data set's official distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The file name, appended to the base address and stored under.
    pub file: &'static str,
    /// MD5 (lower-case hex) of the file as published by the data set's distributors.
    pub md5: &'static str,
    /// SHA-256 (lower-case hex) of the decompressed payload, when known.
    pub payload_sha256: Option<&'static str>,
    /// Size in bytes of the file, when known.
    pub size: Option<u64>,
}

/// Zalando's Fashion-MNIST files (the address the data set's README links to).
pub const FASHION_MNIST_BASE: &str =
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/";

/// The CIFAR-10 page's download folder.
pub const CIFAR10_BASE: &str = "https://www.cs.toronto.edu/~kriz/";

const FASHION_MNIST_SOURCES: [Source; 4] = [
    Source {
        file: "train-images-idx3-ubyte.gz",
        md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        payload_sha256: Some("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        size: None,
    },
    Source {
        file: "train-labels-idx1-ubyte.gz",
        md5: "25c81989df183df01b3e8a0aad5dffbe",
        payload_sha256: Some("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        size: None,
    },
    Source {
        file: "t10k-images-idx3-ubyte.gz",
        md5: "bef4ecab320f06d8554ea6380940ec79",
        payload_sha256: Some("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        size: None,
    },
    Source {
        file: "t10k-labels-idx1-ubyte.gz",
        md5: "bb300cfdad3c16e7a12a480ee83cd310",
        payload_sha256: Some("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        size: None,
    },
];

const CIFAR10_SOURCES: [Source; 1] = [Source {
    file: "cifar-10-binary.tar.gz",
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
    payload_sha256: None,
    size: Some(170_052_171),
}];

/// The folder inside CIFAR-10's archive, and the files it must hold.
pub const CIFAR10_FOLDER: &str = "cifar-10-batches-bin";
const CIFAR10_BATCHES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// The files to download for `kind`.
pub fn sources(kind: DatasetKind) -> &'static [Source] {
    match kind {
        DatasetKind::FashionMnist => &FASHION_MNIST_SOURCES,
        DatasetKind::Cifar10 => &CIFAR10_SOURCES,
    }
}

/// The official base address of `kind`'s files.
pub fn official_base(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::FashionMnist => FASHION_MNIST_BASE,
        DatasetKind::Cifar10 => CIFAR10_BASE,
    }
}

/// Images per split of the official data sets, `(train, test)`.
pub fn official_counts(kind: DatasetKind) -> (usize, usize) {
    match kind {
        DatasetKind::FashionMnist => (60_000, 10_000),
        DatasetKind::Cifar10 => (50_000, 10_000),
    }
}

/// A checksum given in place of a file's built-in checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// MD5 of the file, lower-case hex (32 digits).
    Md5(String),
    /// SHA-256 of the file, lower-case hex (64 digits).
    Sha256(String),
}

impl Expected {
    /// Parses `FILE=HEX` for `--md5` (`sha256 = false`) or `--sha256`, checking the digit
    /// count and that `FILE` is one of `kind`'s files.
    pub fn parse_override(
        kind: DatasetKind,
        spec: &str,
        sha256: bool,
    ) -> ExperimentResult<(String, Self)> {
        let flag = if sha256 { "--sha256" } else { "--md5" };
        let (file, hex) = spec
            .split_once('=')
            .ok_or_else(|| ExperimentError::Config(format!("{flag} `{spec}` is not FILE=HEX")))?;
        let names: Vec<&str> = sources(kind).iter().map(|s| s.file).collect();
        if !names.contains(&file) {
            return Err(ExperimentError::Config(format!(
                "{flag}: `{file}` is not a file of {}; its files are {names:?}",
                kind.name()
            )));
        }
        let digits = if sha256 { 64 } else { 32 };
        if hex.len() != digits || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ExperimentError::Config(format!(
                "{flag} {file}: `{hex}` is not {digits} hex digits"
            )));
        }
        let hex = hex.to_ascii_lowercase();
        Ok((
            file.to_string(),
            if sha256 {
                Expected::Sha256(hex)
            } else {
                Expected::Md5(hex)
            },
        ))
    }
}

/// How to fetch.
#[derive(Debug, Clone, Default)]
pub struct DataFetchOptions {
    /// Base address replacing the official one (a mirror); file names are appended.
    pub base_url: Option<String>,
    /// Checksums replacing the built-in checks of the named files.
    pub checksums: Vec<(String, Expected)>,
    /// Show download progress bars (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Download even files that are present and pass their checks.
    pub force: bool,
}

impl DataFetchOptions {
    /// Whether the files are checked against the official digests only.
    pub fn official(&self) -> bool {
        self.checksums.is_empty()
    }
}

/// One file after [`fetch_dataset`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// Where it was downloaded from (or would have been, if cached).
    pub url: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Its MD5, lower-case hex.
    pub md5: String,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// `true` if it was already present and passed its checks.
    pub cached: bool,
}

/// What [`fetch_dataset`] did.
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// The folder to pass to the loaders (`--data-dir`).
    pub dir: PathBuf,
    /// The downloaded (or cached) files.
    pub files: Vec<FetchedFile>,
    /// Images in the train and test splits.
    pub counts: (usize, usize),
}

/// The address of `file` under `base` (one `/` between them).
pub fn join_url(base: &str, file: &str) -> String {
    format!("{}/{file}", base.trim_end_matches('/'))
}

/// How to get the data without this command, quoted in download errors.
fn offline_hint(kind: DatasetKind, dest: &Path) -> String {
    match kind {
        DatasetKind::FashionMnist => format!(
            "without network access install Debian's package (`apt-get install dataset-fashion-mnist`), \
             or copy the four .gz files of {FASHION_MNIST_BASE} into `{}`, or pass --mirror URL",
            dest.display()
        ),
        DatasetKind::Cifar10 => format!(
            "without network access download {CIFAR10_BASE}cifar-10-binary.tar.gz elsewhere and unpack it \
             into `{}` (it holds `{CIFAR10_FOLDER}/`), or pass --mirror URL",
            dest.display()
        ),
    }
}

/// Downloads `kind` into `dest` over HTTP(S) (`crate::download`, proxies honoured),
/// checks every file, unpacks CIFAR-10, reads the result back and returns where it is.
pub fn fetch_dataset(
    kind: DatasetKind,
    dest: &Path,
    options: &DataFetchOptions,
) -> ExperimentResult<FetchReport> {
    let progress = options.progress;
    let mut transfer = |url: &str, to: &Path| -> ExperimentResult<()> {
        let dir = to.parent().unwrap_or(Path::new("."));
        let name = to.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let opts = download::FetchOptions {
            progress,
            force: true,
            ..download::FetchOptions::default()
        };
        download::fetch(url, dir, name, &download::Checksum::None, &opts)
            .map(|_| ())
            .map_err(|e| download_error(kind, dest, url, e))
    };
    fetch_with(kind, dest, options, &mut transfer)
}

fn download_error(kind: DatasetKind, dest: &Path, url: &str, e: Error) -> ExperimentError {
    let reason = match e {
        Error::DownloadStatus { status, .. } => format!("the server answered HTTP {status}"),
        Error::DownloadNetwork { message, .. } => message,
        Error::DownloadTruncated { got, expected, .. } => {
            format!("cut short after {got} of {expected} bytes; try again")
        }
        io @ Error::Io { .. } => return io,
        other => other.to_string(),
    };
    ExperimentError::Download {
        url: url.to_string(),
        reason: format!("{reason}; {}", offline_hint(kind, dest)),
    }
}

/// [`fetch_dataset`] with the transfer injected: `transfer(url, path)` must write the
/// whole body of `url` to `path` (the real one is `crate::download::fetch`).
pub fn fetch_with(
    kind: DatasetKind,
    dest: &Path,
    options: &DataFetchOptions,
    transfer: &mut dyn FnMut(&str, &Path) -> ExperimentResult<()>,
) -> ExperimentResult<FetchReport> {
    for (file, _) in &options.checksums {
        if !sources(kind).iter().any(|s| s.file == file) {
            return Err(ExperimentError::Config(format!(
                "`{file}` is not a file of {}",
                kind.name()
            )));
        }
    }
    std::fs::create_dir_all(dest).map_err(|e| ExperimentError::io(dest, e))?;
    let base = options.base_url.as_deref().unwrap_or(official_base(kind));
    let mut files = Vec::new();
    for src in sources(kind) {
        let url = join_url(base, src.file);
        let expected = options
            .checksums
            .iter()
            .find(|(f, _)| f == src.file)
            .map(|(_, e)| e);
        let final_path = dest.join(src.file);
        if final_path.is_file() && !options.force {
            match check_file(src, expected, &final_path, &url) {
                Ok((bytes, md5, sha256)) => {
                    files.push(FetchedFile {
                        url,
                        path: final_path,
                        bytes,
                        md5,
                        sha256,
                        cached: true,
                    });
                    continue;
                }
                Err(e) => eprintln!(
                    "`{}` is present but fails its check ({e}); downloading it again",
                    final_path.display()
                ),
            }
        }
        let partial = dest.join(format!("{}.download", src.file));
        let result =
            transfer(&url, &partial).and_then(|()| check_file(src, expected, &partial, &url));
        match result {
            Ok((bytes, md5, sha256)) => {
                std::fs::rename(&partial, &final_path)
                    .map_err(|e| ExperimentError::io(&final_path, e))?;
                files.push(FetchedFile {
                    url,
                    path: final_path,
                    bytes,
                    md5,
                    sha256,
                    cached: false,
                });
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        }
    }
    let dir = match kind {
        DatasetKind::FashionMnist => dest.to_path_buf(),
        DatasetKind::Cifar10 => unpack_cifar10(&dest.join(CIFAR10_SOURCES[0].file), dest)?,
    };
    let counts = (
        kind.load(&dir, Split::Train)?.len(),
        kind.load(&dir, Split::Test)?.len(),
    );
    let want = official_counts(kind);
    if options.official() && counts != want {
        return Err(ExperimentError::CorruptData {
            path: dir,
            reason: format!("{counts:?} train/test images, expected {want:?}"),
            hint: format!(
                "delete the folder and run `curtain data fetch {}` again",
                kind.name()
            ),
        });
    }
    Ok(FetchReport { dir, files, counts })
}

/// Checks a downloaded file; returns its size, MD5 and SHA-256.
fn check_file(
    src: &Source,
    expected: Option<&Expected>,
    path: &Path,
    url: &str,
) -> ExperimentResult<(u64, String, String)> {
    let f = std::fs::File::open(path).map_err(|e| ExperimentError::io(path, e))?;
    let mut reader = std::io::BufReader::new(f);
    let (mut md5, mut sha) = (Md5::new(), Sha256::new());
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| ExperimentError::io(path, e))?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        sha.update(&buf[..n]);
        bytes += n as u64;
    }
    let md5 = md5.hex();
    let sha256: String = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let bad = |reason: String| ExperimentError::Download {
        url: url.to_string(),
        reason: format!(
            "{reason}; the file was discarded — try again, or check the --mirror address"
        ),
    };
    match expected {
        Some(Expected::Md5(want)) if &md5 != want => {
            return Err(bad(format!("MD5 {md5}, expected {want}")))
        }
        Some(Expected::Sha256(want)) if &sha256 != want => {
            return Err(bad(format!("SHA-256 {sha256}, expected {want}")))
        }
        Some(_) => {}
        None => {
            if let Some(size) = src.size.filter(|&s| s != bytes) {
                return Err(bad(format!("{bytes} bytes, expected {size}")));
            }
            if md5 != src.md5 {
                return Err(bad(format!("MD5 {md5}, expected {}", src.md5)));
            }
            if let Some(want) = src.payload_sha256 {
                let got = gunzip_sha256(path)?;
                if got != want {
                    return Err(bad(format!("decompressed SHA-256 {got}, expected {want}")));
                }
            }
        }
    }
    Ok((bytes, md5, sha256))
}

/// SHA-256 of a gzip stream's decompressed contents, lower-case hex.
pub fn gunzip_sha256(path: &Path) -> ExperimentResult<String> {
    let f = std::fs::File::open(path).map_err(|e| ExperimentError::io(path, e))?;
    let mut dec = flate2::read::GzDecoder::new(std::io::BufReader::new(f));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = dec
            .read(&mut buf)
            .map_err(|e| ExperimentError::CorruptData {
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

/// Unpacks the six batch files of CIFAR-10's archive into `dest/cifar-10-batches-bin`
/// (through a temporary folder, renamed when complete) and returns that folder. Only
/// regular files directly inside `cifar-10-batches-bin/` are written; other members
/// (`batches.meta.txt`, `readme.html`) are copied too, anything else is ignored.
pub fn unpack_cifar10(archive: &Path, dest: &Path) -> ExperimentResult<PathBuf> {
    let corrupt = |reason: String| ExperimentError::CorruptData {
        path: archive.to_path_buf(),
        reason,
        hint: "delete it and run `curtain data fetch cifar10` again".into(),
    };
    let tmp = dest.join(format!(".{CIFAR10_FOLDER}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| ExperimentError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| ExperimentError::io(&tmp, e))?;
    let f = std::fs::File::open(archive).map_err(|e| ExperimentError::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let entries = tar
        .entries()
        .map_err(|e| corrupt(format!("not a tar.gz archive ({e})")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(format!("cannot read the archive ({e})")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| corrupt(format!("bad member name ({e})")))?
            .into_owned();
        let parts: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let [folder, name] = parts.as_slice() else {
            continue;
        };
        if folder != CIFAR10_FOLDER || name.starts_with('.') {
            continue;
        }
        let target = tmp.join(name);
        let mut out =
            std::fs::File::create(&target).map_err(|e| ExperimentError::io(&target, e))?;
        std::io::copy(&mut entry, &mut out)
            .map_err(|e| corrupt(format!("cannot unpack `{}` ({e})", path.display())))?;
    }
    for name in CIFAR10_BATCHES {
        if !tmp.join(name).is_file() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(corrupt(format!(
                "the archive holds no `{CIFAR10_FOLDER}/{name}`"
            )));
        }
    }
    for split in [Split::Train, Split::Test] {
        if let Err(e) = super::cifar10(&tmp, split) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    }
    let final_dir = dest.join(CIFAR10_FOLDER);
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| ExperimentError::io(&final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| ExperimentError::io(&final_dir, e))?;
    Ok(final_dir)
}

/// Test data: tiny but valid copies of the data sets' files, as they are served.
pub mod fixtures {
    use std::io::Write;

    use super::super::idx::encode_idx;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        // Writing into a Vec cannot fail.
        let _ = enc.write_all(bytes);
        enc.finish().unwrap_or_default()
    }

    /// The four Fashion-MNIST `.gz` files with `train` and `test` images of 28×28, as
    /// `(file name, bytes)`.
    pub fn fashion_mnist(train: usize, test: usize) -> Vec<(&'static str, Vec<u8>)> {
        let mut out = Vec::new();
        for (prefix, n) in [("train", train), ("t10k", test)] {
            let pixels: Vec<u8> = (0..n * 784).map(|i| ((i * 31 + n) % 256) as u8).collect();
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            let images = gzip(&encode_idx(&[n, 28, 28], &pixels));
            let labels = gzip(&encode_idx(&[n], &labels));
            let (fi, fl) = match prefix {
                "train" => ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                _ => ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
            };
            out.push((fi, images));
            out.push((fl, labels));
        }
        out
    }

    /// A `cifar-10-binary.tar.gz` whose five training batches hold `per_batch` records
    /// each and whose test batch holds `test` (labels `i mod 10`, pixels a pattern).
    pub fn cifar10_archive(per_batch: usize, test: usize) -> Vec<u8> {
        let batch = |n: usize, salt: usize| -> Vec<u8> {
            (0..n)
                .flat_map(|i| {
                    std::iter::once((i % 10) as u8)
                        .chain((0..3072).map(move |p| ((p * 7 + i * 13 + salt) % 256) as u8))
                })
                .collect()
        };
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            let _ = tar.append_data(&mut h, format!("cifar-10-batches-bin/{name}"), data);
        };
        for i in 1..=5 {
            add(&format!("data_batch_{i}.bin"), &batch(per_batch, i));
        }
        add("test_batch.bin", &batch(test, 0));
        add(
            "batches.meta.txt",
            b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n",
        );
        gzip(&tar.into_inner().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::data::md5::md5_hex;
    use crate::loopback::{LoopbackServer, Route};

    /// Serves `files` at `/mirror/<name>` (404 otherwise); returns the mirror's base URL
    /// and the server, whose log holds the paths requested.
    fn serve(files: &[(&str, Vec<u8>)]) -> (String, LoopbackServer) {
        let routes = files
            .iter()
            .map(|(n, b)| Route::new(format!("/mirror/{n}"), b.clone()))
            .collect();
        let server = LoopbackServer::start(routes);
        (format!("{}/mirror", server.base()), server)
    }

    fn options(base: &str, files: &[(&str, Vec<u8>)]) -> DataFetchOptions {
        DataFetchOptions {
            base_url: Some(base.to_string()),
            checksums: files
                .iter()
                .map(|(n, b)| (n.to_string(), Expected::Md5(md5_hex(b))))
                .collect(),
            progress: false,
            force: false,
        }
    }

    /// Fashion-MNIST over HTTP from a loopback mirror: every file arrives, is checked
    /// against the given MD5s and loads; a second fetch downloads nothing; a wrong
    /// checksum is refused and leaves no file behind.
    #[test]
    fn fashion_mnist_over_loopback_http() {
        let files = fixtures::fashion_mnist(20, 10);
        let (base, log) = serve(&files);
        let dest = tempfile::tempdir().unwrap();
        let opts = options(&base, &files);
        let report = fetch_dataset(DatasetKind::FashionMnist, dest.path(), &opts).unwrap();
        assert_eq!(report.counts, (20, 10));
        assert_eq!(report.files.len(), 4);
        assert!(report.files.iter().all(|f| !f.cached));
        assert_eq!(log.requests().len(), 4);
        let test = DatasetKind::FashionMnist
            .load(&report.dir, Split::Test)
            .unwrap();
        assert_eq!(test.labels, (0..10).map(|i| i as u8).collect::<Vec<_>>());

        let again = fetch_dataset(DatasetKind::FashionMnist, dest.path(), &opts).unwrap();
        assert!(again.files.iter().all(|f| f.cached));
        assert_eq!(
            log.requests().len(),
            4,
            "nothing downloaded the second time"
        );

        // Tampered expectation for one file: refused, nothing left under its name.
        let bad_dest = tempfile::tempdir().unwrap();
        let mut bad = opts.clone();
        bad.checksums[2].1 = Expected::Md5("0".repeat(32));
        let err = fetch_dataset(DatasetKind::FashionMnist, bad_dest.path(), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t10k-images-idx3-ubyte.gz")
                && err.contains("MD5")
                && err.contains(&"0".repeat(32)),
            "{err}"
        );
        assert!(!bad_dest.path().join("t10k-images-idx3-ubyte.gz").exists());
        assert!(!bad_dest
            .path()
            .join("t10k-images-idx3-ubyte.gz.download")
            .exists());

        // Official checks on the tiny files: the MD5 differs from Zalando's.
        let official = DataFetchOptions {
            base_url: Some(base.clone()),
            ..DataFetchOptions::default()
        };
        let err = fetch_dataset(DatasetKind::FashionMnist, bad_dest.path(), &official)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected 8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "{err}"
        );

        // A mirror without the files: HTTP 404, with the offline hint.
        let missing = DataFetchOptions {
            base_url: Some(format!("{base}/nowhere")),
            ..opts
        };
        let err = fetch_dataset(DatasetKind::FashionMnist, bad_dest.path(), &missing)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HTTP 404") && err.contains("apt-get install dataset-fashion-mnist"),
            "{err}"
        );
    }

    /// CIFAR-10 over HTTP: the archive is checked and unpacked into
    /// `cifar-10-batches-bin`, which loads; an archive missing a batch is refused and
    /// leaves no folder.
    #[test]
    fn cifar10_over_loopback_http() {
        let archive = fixtures::cifar10_archive(3, 4);
        let files = vec![("cifar-10-binary.tar.gz", archive)];
        let (base, _) = serve(&files);
        let dest = tempfile::tempdir().unwrap();
        let report =
            fetch_dataset(DatasetKind::Cifar10, dest.path(), &options(&base, &files)).unwrap();
        assert_eq!(report.dir, dest.path().join(CIFAR10_FOLDER));
        assert_eq!(report.counts, (15, 4));
        assert!(report.dir.join("batches.meta.txt").is_file());
        let test = DatasetKind::Cifar10.load(dest.path(), Split::Test).unwrap();
        assert_eq!((test.len(), test.channels, test.height), (4, 3, 32));

        // The official checks refuse the tiny archive by its size.
        let dest2 = tempfile::tempdir().unwrap();
        let official = DataFetchOptions {
            base_url: Some(base),
            ..DataFetchOptions::default()
        };
        let err = fetch_dataset(DatasetKind::Cifar10, dest2.path(), &official)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected 170052171"), "{err}");
        assert!(!dest2.path().join("cifar-10-binary.tar.gz").exists());
    }

    #[test]
    fn archive_without_a_batch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3073);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(
            &mut h,
            "cifar-10-batches-bin/data_batch_1.bin",
            &[0u8; 3073][..],
        )
        .unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&tar.into_inner().unwrap()).unwrap();
        let archive = dir.path().join("a.tar.gz");
        std::fs::write(&archive, enc.finish().unwrap()).unwrap();
        let err = unpack_cifar10(&archive, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("data_batch_2.bin"), "{err}");
        assert!(!dir.path().join(CIFAR10_FOLDER).exists());
        std::fs::write(&archive, b"not gzip").unwrap();
        assert!(unpack_cifar10(&archive, dir.path()).is_err());
    }

    #[test]
    fn overrides_are_checked() {
        let k = DatasetKind::FashionMnist;
        let (f, e) = Expected::parse_override(
            k,
            &format!("t10k-labels-idx1-ubyte.gz={}", "AB".repeat(16)),
            false,
        )
        .unwrap();
        assert_eq!(
            (f.as_str(), e),
            ("t10k-labels-idx1-ubyte.gz", Expected::Md5("ab".repeat(16)))
        );
        let err = Expected::parse_override(k, "labels.gz=00", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("labels.gz") && err.contains("t10k-labels-idx1-ubyte.gz"),
            "{err}"
        );
        assert!(Expected::parse_override(k, "t10k-labels-idx1-ubyte.gz=00", true).is_err());
        assert!(Expected::parse_override(k, "no-equals-sign", true).is_err());
        assert_eq!(join_url("http://h/a/", "f.gz"), "http://h/a/f.gz");
    }

    /// With the Debian package installed, a "download" that copies its files fails the
    /// official MD5 (Debian recompresses the .gz), while its payloads match the SHA-256
    /// recorded here; the files load after a fetch with the Debian files' own MD5s.
    #[test]
    fn debian_payloads_match_recorded_sha256() {
        let debian = Path::new(super::super::FASHION_MNIST_DEFAULT_DIR);
        if !debian.join("t10k-labels-idx1-ubyte.gz").is_file() {
            eprintln!("dataset-fashion-mnist not installed; skipping");
            return;
        }
        for src in sources(DatasetKind::FashionMnist) {
            assert_eq!(
                gunzip_sha256(&debian.join(src.file)).unwrap(),
                src.payload_sha256.unwrap(),
                "{}",
                src.file
            );
        }
        let dest = tempfile::tempdir().unwrap();
        let mut copy = |url: &str, to: &Path| -> ExperimentResult<()> {
            let name = url.rsplit('/').next().unwrap_or_default();
            std::fs::copy(debian.join(name), to)
                .map(|_| ())
                .map_err(|e| ExperimentError::io(to, e))
        };
        let err = fetch_with(
            DatasetKind::FashionMnist,
            dest.path(),
            &DataFetchOptions::default(),
            &mut copy,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("MD5") && err.contains("train-images"), "{err}");
        let own: Vec<(String, Expected)> = sources(DatasetKind::FashionMnist)
            .iter()
            .map(|s| {
                (
                    s.file.to_string(),
                    Expected::Md5(md5_hex(&std::fs::read(debian.join(s.file)).unwrap())),
                )
            })
            .collect();
        let opts = DataFetchOptions {
            checksums: own,
            ..DataFetchOptions::default()
        };
        let report = fetch_with(DatasetKind::FashionMnist, dest.path(), &opts, &mut copy).unwrap();
        assert_eq!(report.counts, (60_000, 10_000));
    }
}
