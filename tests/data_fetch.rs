//! End to end: `curtain data fetch` downloads from a loopback HTTP mirror serving tiny but
//! valid data sets made by the test, checks them against the MD5s the test passes, and the
//! result loads (`curtain data info`); bad input and missing data name the fix.

use std::process::{Command, Output};

use excitation::data::fetch::fixtures;
use excitation::data::md5::md5_hex;
use excitation::loopback::{LoopbackServer, Route};

fn curtain(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curtain"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Serves `files` under `/m/<name>` (404 otherwise) until the process ends; returns the
/// base address and the server, whose log holds the requested paths.
fn serve(files: Vec<(&'static str, Vec<u8>)>) -> (String, LoopbackServer) {
    let server = LoopbackServer::start(
        files
            .into_iter()
            .map(|(n, b)| Route::new(format!("/m/{n}"), b))
            .collect(),
    );
    (format!("{}/m", server.base()), server)
}

fn md5_flags(files: &[(&'static str, Vec<u8>)]) -> Vec<String> {
    files
        .iter()
        .flat_map(|(n, b)| ["--md5".to_string(), format!("{n}={}", md5_hex(b))])
        .collect()
}

#[test]
fn fetch_fashion_mnist_from_loopback_mirror_then_load_it() {
    let files = fixtures::fashion_mnist(30, 12);
    let (base, log) = serve(files.clone());
    let work = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = ["data", "fetch", "fashion-mnist", "--mirror", &base]
        .map(String::from)
        .to_vec();
    args.extend(md5_flags(&files));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = curtain(&argv, work.path());
    assert!(out.status.success(), "{}", text(&out));
    // Default folder: data/fashion-mnist under the working directory.
    let dir = work.path().join("data/fashion-mnist");
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(dir.join(name)).unwrap(), bytes, "{name}");
    }
    assert!(
        text(&out).contains("30 training and 12 test images"),
        "{}",
        text(&out)
    );
    assert_eq!(log.requests().len(), 4);

    let info = curtain(
        &[
            "data",
            "info",
            "fashion-mnist",
            "--dir",
            "data/fashion-mnist",
        ],
        work.path(),
    );
    assert!(info.status.success(), "{}", text(&info));
    assert!(
        text(&info).contains("Test: 12 images of 1×28×28"),
        "{}",
        text(&info)
    );

    // Again: everything present and checked, nothing downloaded.
    let again = curtain(&argv, work.path());
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("present"), "{}", text(&again));
    assert_eq!(log.requests().len(), 4);
}

#[test]
fn fetch_cifar10_from_loopback_mirror_unpacks_and_loads() {
    let files = vec![("cifar-10-binary.tar.gz", fixtures::cifar10_archive(2, 5))];
    let (base, _) = serve(files.clone());
    let work = tempfile::tempdir().unwrap();
    let md5 = format!("cifar-10-binary.tar.gz={}", md5_hex(&files[0].1));
    let out = curtain(
        &[
            "data", "fetch", "cifar10", "--dir", "cf", "--url", &base, "--md5", &md5,
        ],
        work.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(work
        .path()
        .join("cf/cifar-10-batches-bin/test_batch.bin")
        .is_file());
    assert!(
        text(&out).contains("10 training and 5 test images"),
        "{}",
        text(&out)
    );
    let info = curtain(&["data", "info", "cifar10", "--dir", "cf"], work.path());
    assert!(info.status.success(), "{}", text(&info));
    assert!(
        text(&info).contains("Train: 10 images of 3×32×32"),
        "{}",
        text(&info)
    );
}

#[test]
fn corrupt_download_missing_data_and_bad_flags_name_the_fix() {
    let files = fixtures::fashion_mnist(3, 2);
    let (base, _) = serve(files.clone());
    let work = tempfile::tempdir().unwrap();

    // The official checksums refuse the served files; nothing is left under their names.
    let out = curtain(
        &[
            "data",
            "fetch",
            "fashion-mnist",
            "--mirror",
            &base,
            "--dir",
            "f",
        ],
        work.path(),
    );
    assert!(!out.status.success());
    let err = text(&out);
    assert!(
        err.contains("MD5")
            && err.contains("8d4fb7e6c68d591d4c3dfef9ec88bf0d")
            && err.contains("discarded"),
        "{err}"
    );
    assert!(!work.path().join("f/train-images-idx3-ubyte.gz").exists());

    // A mirror without the files.
    let out = curtain(
        &[
            "data",
            "fetch",
            "cifar10",
            "--mirror",
            &format!("{base}/none"),
            "--dir",
            "c",
        ],
        work.path(),
    );
    let err = text(&out);
    assert!(
        !out.status.success() && err.contains("HTTP 404") && err.contains("cifar-10-binary.tar.gz"),
        "{err}"
    );

    for (args, want) in [
        (
            vec!["data", "fetch", "mnist"],
            "expected `fashion-mnist` or `cifar10`",
        ),
        (
            vec!["data", "fetch", "cifar10", "--md5", "x.tar.gz=00"],
            "not a file of cifar10",
        ),
        (
            vec![
                "data",
                "fetch",
                "cifar10",
                "--md5",
                "cifar-10-binary.tar.gz=zz",
            ],
            "32 hex digits",
        ),
        (
            vec!["data", "fetch", "cifar10", "--mirror", "ftp://x"],
            "not an http",
        ),
    ] {
        let out = curtain(&args, work.path());
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(want), "{args:?}: {}", text(&out));
    }

    // Missing and corrupt data sets say how to get them.
    let out = curtain(
        &["data", "info", "cifar10", "--dir", "nowhere"],
        work.path(),
    );
    let err = text(&out);
    assert!(
        err.contains("not found") && err.contains("curtain data fetch cifar10"),
        "{err}"
    );
    std::fs::create_dir_all(work.path().join("bad")).unwrap();
    for (name, bytes) in &files {
        std::fs::write(
            work.path().join("bad").join(name),
            if name.starts_with("t10k-images") {
                b"junk".to_vec()
            } else {
                bytes.clone()
            },
        )
        .unwrap();
    }
    let out = curtain(
        &["data", "info", "fashion-mnist", "--dir", "bad"],
        work.path(),
    );
    let err = text(&out);
    assert!(
        err.contains("corrupt") && err.contains("curtain data fetch fashion-mnist"),
        "{err}"
    );
}
