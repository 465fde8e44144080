//! Reading and preprocessing images as the paper's code does.
//!
//! The paper (`lib/dataset.py`, `ConditionalTransform`) feeds its models images in
//! `[-1, 1]`: a square image is resized to 224×224; any other is resized so its short
//! side is 256 and centre-cropped to 224×224; then `ToTensor` (÷255) and
//! `Normalize(0.5, 0.5)` give `x = 2·(v/255) − 1`. ImageNet normalisation happens inside
//! the model.
//!
//! Fidelity to torchvision + Pillow (what the paper ran):
//! - Decoding: files are decoded by the `image` crate and converted to 8-bit RGB like
//!   Pillow's `convert("RGB")`: grey is replicated to three channels and alpha is
//!   dropped (not composited). PNG decoding is lossless, so PNG inputs match Pillow
//!   bit for bit. JPEG is decoded by `zune-jpeg`, not libjpeg-turbo; IDCT and chroma
//!   upsampling differ, so decoded JPEG pixels differ from Pillow's: on the test fixture
//!   (a high-frequency synthetic pattern, quality 90, 4:2:0 chroma) the mean absolute
//!   difference is 0.44 grey levels and the maximum 36, at sharp colour edges where the
//!   chroma upsampling differs (test `jpeg_decoding_close_to_pillow`). Natural photos
//!   differ less at edges, but expect pullbacks of JPEGs to match the PyTorch pipeline
//!   only up to this input noise.
//!   16-bit PNGs are reduced to 8 bits by the `image` crate (Pillow would go through its
//!   `I;16` mode); such files are rare in ImageNet-style data.
//! - Resizing: [`resize_bilinear`] is Pillow's `Image.resize(..., BILINEAR)`
//!   re-implemented: the same separable triangle filter widened by the scale factor when
//!   shrinking (antialiasing), the same 22-bit fixed-point coefficients, horizontal pass
//!   first and rounding to 8 bits between and after the passes. On the same RGB input the
//!   output equals Pillow's exactly (test `resize_and_crop_match_pillow` against fixtures
//!   made by `tools/reference/imagenet_preprocess.py`).
//! - Sizes: torchvision's `Resize(256)` makes the long side `⌊256·long/short⌋`;
//!   `CenterCrop(224)` starts at `round((side − 224)/2)` with Python's round-half-to-even.
//!   Both are reproduced.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The side of the model input.
pub const INPUT_SIZE: usize = 224;
/// The short side before the centre crop for non-square images.
pub const RESIZE_SHORT: usize = 256;
/// File extensions read from folders (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// What to do with an unreadable or corrupt image inside a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBadImage {
    /// Report it (in [`ImageSet::skipped`]) and go on.
    #[default]
    Skip,
    /// Stop with its error.
    Fail,
}

/// An 8-bit RGB image, row-major, 3 bytes per pixel (HWC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb8 {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height · width · 3` bytes.
    pub data: Vec<u8>,
}

/// One preprocessed image.
#[derive(Debug, Clone)]
pub struct InputImage {
    /// The file it came from.
    pub path: PathBuf,
    /// A short name for figures and summaries: the file stem.
    pub name: String,
    /// The class folder it sits in (ImageFolder trees), if any.
    pub folder: Option<String>,
    /// `[3, 224, 224]` (CHW), values in `[-1, 1]`.
    pub pixels: Vec<f32>,
}

/// The images found under a path, and the ones skipped.
#[derive(Debug, Clone, Default)]
pub struct ImageSet {
    /// Preprocessed images, in sorted path order.
    pub images: Vec<InputImage>,
    /// Files that could not be read, with the reason (only with [`OnBadImage::Skip`]).
    pub skipped: Vec<(PathBuf, String)>,
}

impl ImageSet {
    /// All images as one `[n, 3, 224, 224]` buffer.
    ///
    /// # Shapes
    /// Output: `n · 3 · 224 · 224` values, image-major.
    pub fn batch(&self) -> Vec<f32> {
        self.images
            .iter()
            .flat_map(|i| i.pixels.iter().copied())
            .collect()
    }
}

/// Decode a JPEG or PNG file (format sniffed from its bytes) to 8-bit RGB, as Pillow's
/// `Image.open(path).convert("RGB")`.
pub fn read_rgb8(path: &Path) -> Result<Rgb8> {
    let bytes = fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::ImageNotFound(path.to_path_buf())
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    decode_rgb8(&bytes, path)
}

/// Decode image bytes (JPEG or PNG); `path` names them in errors.
pub fn decode_rgb8(bytes: &[u8], path: &Path) -> Result<Rgb8> {
    let decode_err = |e: image::ImageError| Error::ImageDecode {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if reader.format().is_none() {
        return Err(Error::ImageDecode {
            path: path.to_path_buf(),
            message: "not a JPEG or PNG file (unrecognised header)".into(),
        });
    }
    let img = reader.decode().map_err(decode_err)?;
    let (width, height) = (img.width(), img.height());
    if width == 0 || height == 0 {
        return Err(Error::EmptyImage {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    // `to_rgb8` replicates grey, drops alpha, and maps 16-bit to 8-bit.
    let rgb = img.to_rgb8();
    Ok(Rgb8 {
        width: width as usize,
        height: height as usize,
        data: rgb.into_raw(),
    })
}

/// Pillow's fixed-point precision for 8-bit resampling.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Resampling coefficients of one axis, as Pillow's `precompute_coeffs` +
/// `normalize_coeffs_8bpc` with the bilinear (triangle) filter: for each output index,
/// the first input index and the fixed-point weights.
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // bilinear support is 1.0
    let triangle = |x: f64| {
        let x = x.abs();
        if x < 1.0 {
            1.0 - x
        } else {
            0.0
        }
    };
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            // C's (int) truncates toward zero; values below 0 are clamped anyway.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let w: Vec<f64> = (xmin..xmax)
                .map(|x| triangle((x as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = w.iter().sum();
            let k = w
                .iter()
                .map(|&v| {
                    let v = if total != 0.0 { v / total } else { v };
                    let f = v * (1u32 << PRECISION_BITS) as f64;
                    if f < 0.0 {
                        (f - 0.5) as i32
                    } else {
                        (f + 0.5) as i32
                    }
                })
                .collect();
            (xmin, k)
        })
        .collect()
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resize with Pillow's antialiased bilinear filter (`Image.resize(size, BILINEAR)`).
///
/// # Shapes
/// `img`: `height × width × 3`; output `new_height × new_width × 3`.
pub fn resize_bilinear(img: &Rgb8, new_width: usize, new_height: usize) -> Rgb8 {
    assert!(new_width > 0 && new_height > 0, "resize to an empty image");
    if new_width == img.width && new_height == img.height {
        return img.clone();
    }
    let mut cur = img.clone();
    if new_width != cur.width {
        let coeffs = coefficients(cur.width, new_width);
        let mut out = vec![0u8; cur.height * new_width * 3];
        for y in 0..cur.height {
            let row = &cur.data[y * cur.width * 3..(y + 1) * cur.width * 3];
            for (xx, (xmin, k)) in coeffs.iter().enumerate() {
                for c in 0..3 {
                    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                    for (j, &w) in k.iter().enumerate() {
                        acc += row[(xmin + j) * 3 + c] as i64 * w as i64;
                    }
                    out[(y * new_width + xx) * 3 + c] = clip8(acc);
                }
            }
        }
        cur = Rgb8 {
            width: new_width,
            height: cur.height,
            data: out,
        };
    }
    if new_height != cur.height {
        let coeffs = coefficients(cur.height, new_height);
        let w3 = cur.width * 3;
        let mut out = vec![0u8; new_height * w3];
        for (yy, (ymin, k)) in coeffs.iter().enumerate() {
            for i in 0..w3 {
                let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                for (j, &w) in k.iter().enumerate() {
                    acc += cur.data[(ymin + j) * w3 + i] as i64 * w as i64;
                }
                out[yy * w3 + i] = clip8(acc);
            }
        }
        cur = Rgb8 {
            width: cur.width,
            height: new_height,
            data: out,
        };
    }
    cur
}

/// Python's `round` (half to even) of a non-negative half-integer or integer.
fn round_half_even(x: f64) -> usize {
    let r = x.round();
    let r = if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - 1.0
    } else {
        r
    };
    r as usize
}

/// torchvision's `CenterCrop(size)` of an image at least `size × size`.
///
/// # Shapes
/// `img`: `height × width × 3`, both ≥ `size`; output `size × size × 3`.
pub fn center_crop(img: &Rgb8, size: usize) -> Rgb8 {
    assert!(
        img.width >= size && img.height >= size,
        "crop larger than image"
    );
    let top = round_half_even((img.height - size) as f64 / 2.0);
    let left = round_half_even((img.width - size) as f64 / 2.0);
    let mut data = Vec::with_capacity(size * size * 3);
    for y in top..top + size {
        let start = (y * img.width + left) * 3;
        data.extend_from_slice(&img.data[start..start + size * 3]);
    }
    Rgb8 {
        width: size,
        height: size,
        data,
    }
}

/// The output size of torchvision's `Resize(short)` for a `width × height` image:
/// the short side becomes `short`, the long side `⌊short · long / short_side⌋`.
pub fn resized_size(width: usize, height: usize, short: usize) -> (usize, usize) {
    let (s, l) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let new_long = (short as f64 * l as f64 / s as f64) as usize;
    if width <= height {
        (short, new_long)
    } else {
        (new_long, short)
    }
}

/// The paper's geometry: square → 224×224; otherwise short side 256 then centre crop 224.
///
/// # Shapes
/// `img`: any `height × width × 3`; output `224 × 224 × 3`.
pub fn resize_and_crop(img: &Rgb8) -> Rgb8 {
    if img.width == img.height {
        resize_bilinear(img, INPUT_SIZE, INPUT_SIZE)
    } else {
        let (w, h) = resized_size(img.width, img.height, RESIZE_SHORT);
        center_crop(&resize_bilinear(img, w, h), INPUT_SIZE)
    }
}

/// HWC bytes → CHW values in `[-1, 1]`: `2·(v/255) − 1` (`ToTensor` + `Normalize(0.5, 0.5)`).
///
/// # Shapes
/// `img`: `h × w × 3`; output `[3, h, w]`.
pub fn to_chw_signed(img: &Rgb8) -> Vec<f32> {
    let n = img.width * img.height;
    let mut out = vec![0f32; 3 * n];
    for p in 0..n {
        for c in 0..3 {
            let v = img.data[p * 3 + c] as f32 / 255.0;
            out[c * n + p] = (v - 0.5) / 0.5;
        }
    }
    out
}

/// Read one file and preprocess it to `[3, 224, 224]` in `[-1, 1]`.
pub fn load_image(path: &Path) -> Result<InputImage> {
    let rgb = read_rgb8(path)?;
    let pixels = to_chw_signed(&resize_and_crop(&rgb));
    Ok(InputImage {
        path: path.to_path_buf(),
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string()),
        folder: None,
        pixels,
    })
}

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.starts_with('.'))
        .unwrap_or(false)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let p = e.path();
        if !is_hidden(&p) {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

/// The image files under `path`, sorted, with their class folder.
///
/// - a file: itself (any extension; the format is sniffed from its bytes);
/// - a folder: its `*.jpg|*.jpeg|*.png` files, and those of its sub-folders (an
///   ImageFolder tree: `root/<class>/<image>`, as Imagenette ships), labelled with the
///   sub-folder's name. Hidden files and other extensions are ignored.
///
/// An Imagenette root holding `train/` and `val/` is two levels deep: point at
/// `imagenette2/val`.
pub fn list_images(path: &Path) -> Result<Vec<(PathBuf, Option<String>)>> {
    if !path.exists() {
        return Err(Error::ImageNotFound(path.to_path_buf()));
    }
    if path.is_file() {
        return Ok(vec![(path.to_path_buf(), None)]);
    }
    let mut out = Vec::new();
    for p in sorted_entries(path)? {
        if p.is_dir() {
            let class = p.file_name().map(|n| n.to_string_lossy().into_owned());
            for q in sorted_entries(&p)? {
                if q.is_file() && is_image_file(&q) {
                    out.push((q, class.clone()));
                }
            }
        } else if p.is_file() && is_image_file(&p) {
            out.push((p, None));
        }
    }
    if out.is_empty() {
        return Err(Error::NoImages(path.to_path_buf()));
    }
    Ok(out)
}

/// Read and preprocess every image under `path` (see [`list_images`]); at most `limit`
/// images (in sorted order) when given. Bad files are skipped and reported, or fail, as
/// `on_bad` says; a single file given directly always fails when bad.
pub fn load_images(path: &Path, on_bad: OnBadImage, limit: Option<usize>) -> Result<ImageSet> {
    let files = list_images(path)?;
    let single = path.is_file();
    let mut set = ImageSet::default();
    for (file, folder) in files.iter() {
        if limit.is_some_and(|l| set.images.len() >= l) {
            break;
        }
        match load_image(file) {
            Ok(mut img) => {
                img.folder = folder.clone();
                set.images.push(img);
            }
            Err(e) if on_bad == OnBadImage::Skip && !single => {
                set.skipped.push((file.clone(), e.to_string()));
            }
            Err(e) => return Err(e),
        }
    }
    if set.images.is_empty() {
        return Err(Error::AllImagesSkipped {
            path: path.to_path_buf(),
            count: set.skipped.len(),
        });
    }
    Ok(set)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The test pattern of `tools/reference/imagenet_preprocess.py` (keep in sync).
    pub(crate) fn pattern(width: usize, height: usize) -> Rgb8 {
        let mut data = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                for c in 0..3 {
                    let v = (x * 7 + y * 13 + c * 50 + ((x * y + c) % 17) * 5) % 256;
                    data.push(v as u8);
                }
            }
        }
        Rgb8 {
            width,
            height,
            data,
        }
    }

    #[test]
    fn resized_size_matches_torchvision_formula() {
        assert_eq!(resized_size(500, 375, 256), (341, 256)); // int(256·500/375) = 341
        assert_eq!(resized_size(375, 500, 256), (256, 341));
        assert_eq!(resized_size(160, 213, 256), (256, 340)); // 340.8 truncated
        assert_eq!(resized_size(256, 300, 256), (256, 300));
    }

    #[test]
    fn center_crop_rounds_half_to_even() {
        // (341 − 224)/2 = 58.5 → Python round → 58.
        let img = pattern(341, 224);
        let c = center_crop(&img, 224);
        assert_eq!(&c.data[0..3], &img.data[58 * 3..59 * 3]);
        // (227 − 224)/2 = 1.5 → 2.
        let img = pattern(227, 224);
        let c = center_crop(&img, 224);
        assert_eq!(&c.data[0..3], &img.data[2 * 3..3 * 3]);
        assert_eq!(round_half_even(0.5), 0);
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(3.0), 3);
    }

    #[test]
    fn resize_of_constant_image_is_constant_and_identity_is_identity() {
        let img = Rgb8 {
            width: 37,
            height: 19,
            data: vec![200; 37 * 19 * 3],
        };
        let r = resize_bilinear(&img, 224, 224);
        assert!(r.data.iter().all(|&v| v == 200));
        let p = pattern(30, 20);
        assert_eq!(resize_bilinear(&p, 30, 20), p);
    }

    #[test]
    fn to_chw_signed_maps_bytes_to_unit_interval() {
        let img = Rgb8 {
            width: 2,
            height: 1,
            data: vec![0, 255, 51, 255, 0, 102],
        };
        let t = to_chw_signed(&img);
        assert_eq!(t.len(), 6);
        // channel 0: [0, 255] → [-1, 1]; channel 1: [255, 0]; channel 2: [51, 102].
        assert_eq!(&t[0..4], &[-1.0, 1.0, 1.0, -1.0]);
        assert!((t[4] - (-0.6)).abs() < 1e-6 && (t[5] - (-0.2)).abs() < 1e-6);
    }
}

#[cfg(test)]
mod pillow_parity {
    //! Against fixtures written by `tools/reference/imagenet_preprocess.py` (Pillow 13,
    //! torchvision 0.29).
    use super::tests::pattern;
    use super::*;

    fn png(bytes: &[u8]) -> Rgb8 {
        decode_rgb8(bytes, Path::new("fixture.png")).expect("fixture decodes")
    }

    #[test]
    fn resize_and_crop_match_pillow() {
        let cases: [(usize, usize, &[u8]); 5] = [
            (500, 375, include_bytes!("fixtures/expected_500x375.png")),
            (180, 333, include_bytes!("fixtures/expected_180x333.png")),
            (500, 500, include_bytes!("fixtures/expected_500x500.png")),
            (100, 100, include_bytes!("fixtures/expected_100x100.png")),
            (300, 200, include_bytes!("fixtures/expected_300x200.png")),
        ];
        for (w, h, bytes) in cases {
            let expected = png(bytes);
            let got = resize_and_crop(&pattern(w, h));
            assert_eq!((got.width, got.height), (224, 224));
            let diff = got
                .data
                .iter()
                .zip(&expected.data)
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(diff, 0, "{w}x{h}: {diff} bytes differ from Pillow");
        }
    }

    #[test]
    fn grey_and_rgba_files_convert_like_pillow() {
        let cases: [(&[u8], &[u8]); 2] = [
            (
                include_bytes!("fixtures/grey_40x30.png"),
                include_bytes!("fixtures/expected_grey_40x30.png"),
            ),
            (
                include_bytes!("fixtures/rgba_50x50.png"),
                include_bytes!("fixtures/expected_rgba_50x50.png"),
            ),
        ];
        for (input, expected) in cases {
            let got = resize_and_crop(&png(input));
            assert_eq!(got, png(expected));
        }
    }

    #[test]
    fn jpeg_decoding_close_to_pillow() {
        let ours = decode_rgb8(
            include_bytes!("fixtures/pattern_120x90.jpg"),
            Path::new("pattern_120x90.jpg"),
        )
        .unwrap();
        let pillow = png(include_bytes!("fixtures/pillow_decoded_120x90.png"));
        assert_eq!((ours.width, ours.height), (120, 90));
        let diffs: Vec<i32> = ours
            .data
            .iter()
            .zip(&pillow.data)
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .collect();
        let max = *diffs.iter().max().unwrap();
        let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
        // Measured on this fixture: max 36, mean 0.436 levels (see the module docs).
        assert!(
            max <= JPEG_MAX_DIFF,
            "max |zune − libjpeg| = {max}, mean {mean:.3}"
        );
        assert!(mean <= 0.5, "mean |zune − libjpeg| = {mean:.3}");
    }

    const JPEG_MAX_DIFF: i32 = 40;
}

#[cfg(test)]
mod folders {
    use super::*;

    fn write_png(path: &Path, w: u32, h: u32, seed: u8) {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x as u8).wrapping_mul(seed), y as u8, seed])
        });
        img.save(path).unwrap();
    }

    #[test]
    fn single_file_folder_and_imagefolder_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Flat folder with a non-image file and a hidden file, both ignored.
        write_png(&root.join("b.png"), 30, 20, 3);
        write_png(&root.join("a.PNG"), 20, 20, 5);
        fs::write(root.join("notes.txt"), "not an image").unwrap();
        fs::write(root.join(".hidden.png"), "junk").unwrap();
        let set = load_images(root, OnBadImage::Fail, None).unwrap();
        let names: Vec<_> = set.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        for img in &set.images {
            assert_eq!(img.pixels.len(), 3 * 224 * 224);
            assert!(img.pixels.iter().all(|v| (-1.0..=1.0).contains(v)));
        }
        assert_eq!(set.batch().len(), 2 * 3 * 224 * 224);
        // One file.
        let one = load_images(&root.join("b.png"), OnBadImage::Skip, None).unwrap();
        assert_eq!(one.images.len(), 1);
        assert_eq!(one.images[0].pixels, set.images[1].pixels);
        // ImageFolder tree: class folders, labels from folder names.
        let tree = root.join("val");
        for (class, n) in [("n01440764", 2), ("n03445777", 1)] {
            fs::create_dir_all(tree.join(class)).unwrap();
            for k in 0..n {
                write_png(
                    &tree.join(class).join(format!("img{k}.jpg.png")),
                    40,
                    30,
                    k + 1,
                );
            }
        }
        let set = load_images(&tree, OnBadImage::Fail, None).unwrap();
        let folders: Vec<_> = set
            .images
            .iter()
            .map(|i| i.folder.clone().unwrap())
            .collect();
        assert_eq!(folders, ["n01440764", "n01440764", "n03445777"]);
        let limited = load_images(&tree, OnBadImage::Fail, Some(2)).unwrap();
        assert_eq!(limited.images.len(), 2);
    }

    #[test]
    fn bad_images_are_named_and_skipped_or_fail() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_png(&root.join("good.png"), 10, 12, 1);
        fs::write(root.join("corrupt.jpg"), b"\xFF\xD8\xFF\xE0 truncated jpeg").unwrap();
        fs::write(root.join("text.png"), "hello").unwrap();
        // Truncated PNG: a valid header then nothing.
        let mut bytes = Vec::new();
        image::RgbImage::new(8, 8)
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        fs::write(root.join("truncated.png"), &bytes[..bytes.len() / 2]).unwrap();
        let set = load_images(root, OnBadImage::Skip, None).unwrap();
        assert_eq!(set.images.len(), 1);
        let skipped: Vec<String> = set
            .skipped
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(skipped, ["corrupt.jpg", "text.png", "truncated.png"]);
        let err = load_images(root, OnBadImage::Fail, None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("corrupt.jpg") && msg.contains("--on-bad-image skip"),
            "{msg}"
        );
        // A bad single file fails even in skip mode.
        assert!(matches!(
            load_images(&root.join("text.png"), OnBadImage::Skip, None),
            Err(Error::ImageDecode { .. })
        ));
        // Missing path and empty folder.
        assert!(matches!(
            load_images(&root.join("nope"), OnBadImage::Skip, None),
            Err(Error::ImageNotFound(_))
        ));
        let empty = root.join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(matches!(
            load_images(&empty, OnBadImage::Skip, None),
            Err(Error::NoImages(_))
        ));
        // Only bad files: all skipped is an error.
        let bad = root.join("bad");
        fs::create_dir(&bad).unwrap();
        fs::write(bad.join("x.png"), "no").unwrap();
        assert!(matches!(
            load_images(&bad, OnBadImage::Skip, None),
            Err(Error::AllImagesSkipped { count: 1, .. })
        ));
    }
}
