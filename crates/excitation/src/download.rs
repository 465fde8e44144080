//! HTTP(S) downloads into a local cache: streamed to a temporary file in the cache
//! folder with a progress bar, checked against a SHA-256 digest (or, as torchvision does
//! for its checkpoints, a digest prefix written in the file name), then renamed into
//! place, so an interrupted or corrupt download never leaves a file that looks complete.
//!
//! A file already in the cache whose digest checks out is used without any network
//! access; one that does not check out is downloaded again.
//!
//! Proxies: `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY` are honoured, except
//! for loopback hosts (`127.0.0.1`, `localhost`, `[::1]`), which are always reached
//! directly.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// How a downloaded file is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// The full SHA-256 digest, lower-case hex (64 characters).
    Sha256(String),
    /// The digest must start with this lower-case hex prefix (torchvision's convention:
    /// `resnet50-0676ba61.pth` has a digest starting `0676ba61`).
    Sha256Prefix(String),
    /// No check (the digest is still computed and reported).
    None,
}

impl Checksum {
    /// torchvision's check for a checkpoint file name `name-<hex>.ext`: the hex part
    /// after the last `-` is a digest prefix. `None` if the name has no such part.
    pub fn from_torchvision_file_name(file_name: &str) -> Option<Self> {
        let stem = file_name.split('.').next()?;
        let (_, hex) = stem.rsplit_once('-')?;
        (hex.len() >= 6 && hex.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| Checksum::Sha256Prefix(hex.to_ascii_lowercase()))
    }

    /// Whether `digest` (lower-case hex) passes.
    pub fn accepts(&self, digest: &str) -> bool {
        match self {
            Checksum::Sha256(full) => digest.eq_ignore_ascii_case(full),
            Checksum::Sha256Prefix(prefix) => digest.starts_with(&prefix.to_ascii_lowercase()),
            Checksum::None => true,
        }
    }

    fn expected(&self) -> String {
        match self {
            Checksum::Sha256(h) => h.clone(),
            Checksum::Sha256Prefix(p) => format!("{p}…"),
            Checksum::None => "(any)".into(),
        }
    }
}

/// Options of [`fetch`].
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Show a progress bar on stderr (hidden automatically when stderr is not a terminal).
    pub progress: bool,
    /// Download even if a valid file is cached.
    pub force: bool,
    /// Connection timeout.
    pub connect_timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            progress: true,
            force: false,
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The file in the cache.
    pub path: PathBuf,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// `true` if it was already cached and nothing was downloaded.
    pub cached: bool,
}

/// The default cache folder: `$XDG_CACHE_HOME/curtain`, else `$HOME/.cache/curtain`.
pub fn default_cache_dir() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("curtain"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(h).join(".cache").join("curtain"));
    }
    Err(Error::NoCacheDir)
}

/// SHA-256 of a file, lower-case hex, and its size.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_loopback(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = rest.split('/').next().unwrap_or("");
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}

/// Download `url` into `cache_dir/file_name` unless a file there already passes
/// `checksum`. The file appears only complete and checked (temporary file + rename).
pub fn fetch(
    url: &str,
    cache_dir: &Path,
    file_name: &str,
    checksum: &Checksum,
    options: &FetchOptions,
) -> Result<Fetched> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::InvalidOption(format!(
            "`{url}` is not an http:// or https:// URL"
        )));
    }
    if file_name.is_empty() || file_name.contains(['/', '\\']) || file_name.starts_with('.') {
        return Err(Error::InvalidOption(format!(
            "`{file_name}` is not a plain file name for the cache"
        )));
    }
    let target = cache_dir.join(file_name);
    if target.is_file() && !options.force {
        let (sha256, bytes) = sha256_file(&target)?;
        if checksum.accepts(&sha256) {
            return Ok(Fetched {
                path: target,
                sha256,
                bytes,
                cached: true,
            });
        }
        eprintln!(
            "cached `{}` fails its checksum (SHA-256 {sha256}, expected {}); downloading it again",
            target.display(),
            checksum.expected()
        );
    }
    fs::create_dir_all(cache_dir).map_err(|source| Error::Io {
        path: cache_dir.to_path_buf(),
        source,
    })?;
    let part = cache_dir.join(format!(".{file_name}.part-{}", std::process::id()));
    let result = download_to(url, &part, checksum, options);
    match result {
        Ok((sha256, bytes)) => {
            fs::rename(&part, &target).map_err(|source| {
                let _ = fs::remove_file(&part);
                Error::Io {
                    path: target.clone(),
                    source,
                }
            })?;
            Ok(Fetched {
                path: target,
                sha256,
                bytes,
                cached: false,
            })
        }
        Err(e) => {
            let _ = fs::remove_file(&part);
            Err(e)
        }
    }
}

fn download_to(
    url: &str,
    part: &Path,
    checksum: &Checksum,
    options: &FetchOptions,
) -> Result<(String, u64)> {
    let net = |e: ureq::Error| match e {
        ureq::Error::StatusCode(status) => Error::DownloadStatus {
            url: url.to_string(),
            status,
        },
        other => Error::DownloadNetwork {
            url: url.to_string(),
            message: other.to_string(),
        },
    };
    let mut config = ureq::Agent::config_builder()
        .timeout_connect(Some(options.connect_timeout))
        .user_agent(concat!("curtain/", env!("CARGO_PKG_VERSION")));
    if is_loopback(url) {
        config = config.proxy(None);
    }
    let agent: ureq::Agent = config.build().into();
    let response = agent.get(url).call().map_err(net)?;
    let expected_len = response.body().content_length();
    let mut reader = response.into_body().into_reader();
    let io = |source| Error::Io {
        path: part.to_path_buf(),
        source,
    };
    let mut file = fs::File::create(part).map_err(io)?;
    let bar = if options.progress {
        let bar = match expected_len {
            Some(n) => indicatif::ProgressBar::new(n).with_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_message(url.rsplit('/').next().unwrap_or("download").to_string());
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        let k = match reader.read(&mut buf) {
            Ok(k) => k,
            Err(e) => {
                bar.abandon();
                // A connection closed before Content-Length bytes arrived.
                if let Some(expected) = expected_len.filter(|&n| got < n) {
                    return Err(Error::DownloadTruncated {
                        url: url.to_string(),
                        got,
                        expected,
                    });
                }
                return Err(Error::DownloadNetwork {
                    url: url.to_string(),
                    message: e.to_string(),
                });
            }
        };
        if k == 0 {
            break;
        }
        hasher.update(&buf[..k]);
        file.write_all(&buf[..k]).map_err(io)?;
        got += k as u64;
        bar.set_position(got);
    }
    bar.finish_and_clear();
    if let Some(expected) = expected_len.filter(|&n| n != got) {
        return Err(Error::DownloadTruncated {
            url: url.to_string(),
            got,
            expected,
        });
    }
    file.sync_all().map_err(io)?;
    drop(file);
    let sha256 = hex(&hasher.finalize());
    if !checksum.accepts(&sha256) {
        return Err(Error::DownloadChecksum {
            url: url.to_string(),
            expected: checksum.expected(),
            found: sha256,
        });
    }
    Ok((sha256, got))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::{LoopbackServer, Route};
    use std::net::TcpListener;

    /// Routes: `/file` → the body; `/short` → announces 100 bytes more than it sends;
    /// anything else → 404.
    fn start_server(body: Vec<u8>) -> (LoopbackServer, String) {
        let short = Route {
            announced_len: Some(body.len() + 100),
            ..Route::new("/short", body.clone())
        };
        let s = LoopbackServer::start(vec![Route::new("/file", body), short]);
        let url = s.base().to_string();
        (s, url)
    }

    fn body() -> Vec<u8> {
        (0..200_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect()
    }

    fn quiet() -> FetchOptions {
        FetchOptions {
            progress: false,
            ..FetchOptions::default()
        }
    }

    fn digest(b: &[u8]) -> String {
        hex(&Sha256::digest(b))
    }

    #[test]
    fn downloads_checks_and_caches() {
        let b = body();
        let (server, base) = start_server(b.clone());
        let dir = tempfile::tempdir().unwrap();
        let url = format!("{base}/file");
        let full = Checksum::Sha256(digest(&b));
        let got = fetch(&url, dir.path(), "w.bin", &full, &quiet()).unwrap();
        assert!(!got.cached);
        assert_eq!(got.bytes, b.len() as u64);
        assert_eq!(got.sha256, digest(&b));
        assert_eq!(fs::read(&got.path).unwrap(), b);
        // Second call: served from the cache, no request.
        let again = fetch(&url, dir.path(), "w.bin", &full, &quiet()).unwrap();
        assert!(again.cached);
        assert_eq!(server.requests().len(), 1);
        // A corrupted cache file is downloaded again.
        fs::write(&got.path, b"garbage").unwrap();
        let fixed = fetch(&url, dir.path(), "w.bin", &full, &quiet()).unwrap();
        assert!(!fixed.cached);
        assert_eq!(fs::read(&fixed.path).unwrap(), b);
        assert_eq!(server.requests().len(), 2);
        // torchvision-style prefix check.
        let prefix = Checksum::Sha256Prefix(digest(&b)[..8].to_string());
        let p = fetch(&url, dir.path(), "p.bin", &prefix, &quiet()).unwrap();
        assert_eq!(p.sha256, digest(&b));
        assert_eq!(server.requests().len(), 3);
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".part")), "{names:?}");
    }

    #[test]
    fn wrong_digest_is_an_error_and_leaves_no_file() {
        let b = body();
        let (_server, base) = start_server(b.clone());
        let dir = tempfile::tempdir().unwrap();
        let wrong = Checksum::Sha256Prefix("00000000".into());
        let e = fetch(
            &format!("{base}/file"),
            dir.path(),
            "w.bin",
            &wrong,
            &quiet(),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::DownloadChecksum { .. }), "{msg}");
        assert!(
            msg.contains(&digest(&b)) && msg.contains("00000000"),
            "{msg}"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn http_errors_and_truncation_are_reported() {
        let (server, base) = start_server(body());
        let dir = tempfile::tempdir().unwrap();
        let e = fetch(
            &format!("{base}/missing"),
            dir.path(),
            "m.bin",
            &Checksum::None,
            &quiet(),
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::DownloadStatus { status: 404, .. }),
            "{e}"
        );
        let e = fetch(
            &format!("{base}/short"),
            dir.path(),
            "s.bin",
            &Checksum::None,
            &quiet(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::DownloadTruncated { .. } | Error::DownloadNetwork { .. }
            ),
            "{e}"
        );
        assert!(!dir.path().join("s.bin").exists());
        assert_eq!(server.requests().len(), 2);
    }

    #[test]
    fn connection_refused_and_bad_arguments() {
        // Bind and drop a listener to get a port with nothing behind it.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let e = fetch(
            &format!("http://127.0.0.1:{port}/x"),
            dir.path(),
            "x",
            &Checksum::None,
            &quiet(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::DownloadNetwork { .. }), "{e}");
        assert!(e.to_string().contains("curtain weights import"));
        assert!(matches!(
            fetch("ftp://x/y", dir.path(), "y", &Checksum::None, &quiet()),
            Err(Error::InvalidOption(_))
        ));
        assert!(matches!(
            fetch(
                "http://127.0.0.1/y",
                dir.path(),
                "../y",
                &Checksum::None,
                &quiet()
            ),
            Err(Error::InvalidOption(_))
        ));
    }

    #[test]
    fn torchvision_file_name_checksums() {
        assert_eq!(
            Checksum::from_torchvision_file_name("resnet50-0676ba61.pth"),
            Some(Checksum::Sha256Prefix("0676ba61".into()))
        );
        assert_eq!(
            Checksum::from_torchvision_file_name("vgg11_bn-6002323d.pth"),
            Some(Checksum::Sha256Prefix("6002323d".into()))
        );
        assert_eq!(Checksum::from_torchvision_file_name("model.pth"), None);
        let c = Checksum::Sha256Prefix("0676ba61".into());
        assert!(c.accepts("0676ba61ffff"));
        assert!(!c.accepts("1676ba61ffff"));
    }
}
