//! Reading the PyTorch parity fixtures of `tests/fixtures/` (written by
//! `tools/reference/make_fixtures.py`; format in `docs/reference-fixtures.md`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use excitation::synthetic::{self, SyntheticTensor};
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;
use serde_json::Value;

/// Folder of the committed fixtures; `CURTAIN_FIXTURES` overrides it (a prebuilt test binary
/// run on another machine, e.g. by `scripts/gpu-check.sh`).
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("CURTAIN_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("fixtures"),
    }
}

/// One fixture file: tensors plus JSON metadata, and its companion file of alternative
/// vanilla references (`<name>.alternatives.safetensors`).
pub struct Fixture {
    pub name: String,
    bytes: Vec<u8>,
    meta: HashMap<String, String>,
    alt_bytes: Vec<u8>,
    alt_meta: HashMap<String, String>,
}

/// An alternative reference for one image of a vanilla output: PyTorch's float64 output with
/// one hard decision (a ReLU sign or a max-pool argmax) that lies within float32 rounding of
/// its threshold taken the other way (`tools/reference/decisions.py`).
#[derive(Debug, Clone)]
pub struct Alternative {
    /// The image of the batch it replaces.
    pub image: usize,
    /// `[1, C, H, W]` values of that image.
    pub data: Vec<f32>,
    /// Which decision, its margin and the float32 noise of its layer.
    pub what: String,
}

/// A fixture tensor: PyTorch shape and flat row-major f32 values.
#[derive(Debug, Clone)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Parameters of the paper's projected gradient ascent as saved in a fixture.
#[derive(Debug, Clone, Copy)]
pub struct AscentParams {
    pub alpha: f64,
    pub eps: f64,
    pub steps: usize,
    pub temperature: f64,
    pub clip: (f64, f64),
}

impl Fixture {
    /// Loads `tests/fixtures/<name>.safetensors`.
    pub fn load(name: &str) -> Self {
        let path = fixtures_dir().join(format!("{name}.safetensors"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read fixture {}: {e}; regenerate with `python tools/reference/make_fixtures.py`",
                path.display()
            )
        });
        let (_, meta) = SafeTensors::read_metadata(&bytes).expect("fixture header");
        let meta = meta.metadata().clone().expect("fixture metadata");
        assert_eq!(
            meta.get("spec").map(String::as_str),
            Some("curtain-synthetic-v1"),
            "fixture spec"
        );
        let alt_path = fixtures_dir().join(format!("{name}.alternatives.safetensors"));
        let alt_bytes = std::fs::read(&alt_path).unwrap_or_else(|e| {
            panic!(
                "cannot read fixture {}: {e}; regenerate with `python tools/reference/make_fixtures.py`",
                alt_path.display()
            )
        });
        let (_, alt_meta) = SafeTensors::read_metadata(&alt_bytes).expect("alternatives header");
        let alt_meta = alt_meta.metadata().clone().expect("alternatives metadata");
        assert_eq!(
            alt_meta.get("model").map(String::as_str),
            Some(name),
            "alternatives file of another model"
        );
        Self {
            name: name.to_string(),
            bytes,
            meta,
            alt_bytes,
            alt_meta,
        }
    }

    /// Alternative references of the vanilla output `key` (`vanilla_grad`,
    /// `ascent/vanilla/{k}`, `ascent_small_eps/vanilla/{k}`); empty for any other key.
    pub fn alternatives(&self, key: &str) -> Vec<Alternative> {
        let all: Value =
            serde_json::from_str(&self.alt_meta["alternatives"]).expect("alternatives metadata");
        let Some(list) = all.get(key).and_then(Value::as_array) else {
            return Vec::new();
        };
        let st = SafeTensors::deserialize(&self.alt_bytes).unwrap();
        list.iter()
            .enumerate()
            .map(|(j, d)| {
                let t = st.tensor(&format!("{key}/{j}")).unwrap_or_else(|_| panic!("{}: no alternative {key}/{j}", self.name));
                let data = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                let what = format!(
                    "`{}` {} {} flipped (margin {:.1e} < float32 noise {:.1e}; moves the output by {:.1e})",
                    d["module"].as_str().unwrap(),
                    d["kind"].as_str().unwrap(),
                    d["index"],
                    d["margin"].as_f64().unwrap(),
                    d["noise"].as_f64().unwrap(),
                    d["effect"].as_f64().unwrap(),
                );
                Alternative { image: d["image"].as_u64().unwrap() as usize, data, what }
            })
            .collect()
    }

    /// The reference of `key` in which each image is replaced by the closest of its
    /// alternatives (or kept), with the alternatives used: both branches of a decision that
    /// float32 cannot resolve are correct, every other number must still match.
    pub fn closest_reference(&self, key: &str, got: &[f32]) -> (Vec<f32>, Vec<String>) {
        let mut want = self.tensor(key).data;
        let alts = self.alternatives(key);
        let per_image = want.len() / self.tensor(key).shape[0];
        let dist = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
                .sum::<f64>()
        };
        let mut used = Vec::new();
        for (b, image) in got.chunks_exact(per_image).enumerate() {
            let range = b * per_image..(b + 1) * per_image;
            let mut best = (dist(image, &want[range.clone()]), None);
            for alt in alts.iter().filter(|a| a.image == b) {
                let d = dist(image, &alt.data);
                if d < best.0 {
                    best = (d, Some(alt));
                }
            }
            if let (_, Some(alt)) = best {
                want[range].copy_from_slice(&alt.data);
                used.push(format!("image {b}: {}", alt.what));
            }
        }
        (want, used)
    }

    fn json(&self, key: &str) -> Value {
        let s = self
            .meta
            .get(key)
            .unwrap_or_else(|| panic!("{}: no metadata `{key}`", self.name));
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{}: metadata `{key}`: {e}", self.name))
    }

    /// Whether the fixture holds a tensor called `name`.
    pub fn has(&self, name: &str) -> bool {
        SafeTensors::deserialize(&self.bytes)
            .unwrap()
            .tensor(name)
            .is_ok()
    }

    /// The f32 tensor `name`.
    pub fn tensor(&self, name: &str) -> Array {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("{}: no tensor `{name}`", self.name));
        assert_eq!(t.dtype(), Dtype::F32, "{}: `{name}` is not f32", self.name);
        let data = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Array {
            shape: t.shape().to_vec(),
            data,
        }
    }

    /// Target class per image.
    pub fn targets(&self) -> Vec<usize> {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st.tensor("targets").expect("targets");
        assert_eq!(t.dtype(), Dtype::I64);
        t.data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize)
            .collect()
    }

    /// Image shape `[N, C, H, W]` of the fixed batch.
    pub fn image_shape(&self) -> [usize; 4] {
        let s = self.tensor("input").shape;
        [s[0], s[1], s[2], s[3]]
    }

    /// torchvision constructor arguments (`config` metadata).
    pub fn config(&self) -> Value {
        self.json("config")
    }

    /// Temperatures of `pullback/{j}`.
    pub fn temperatures(&self) -> Vec<f64> {
        self.json("temperatures")
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap())
            .collect()
    }

    /// Ascent parameters: `"ascent"` or `"ascent_small_eps"`.
    pub fn ascent(&self, which: &str) -> AscentParams {
        let a = self.json(which);
        AscentParams {
            alpha: a["alpha"].as_f64().unwrap(),
            eps: a["eps"].as_f64().unwrap(),
            steps: a["steps"].as_u64().unwrap() as usize,
            temperature: a["temperature"].as_f64().unwrap(),
            clip: (
                a["clip"][0].as_f64().unwrap(),
                a["clip"][1].as_f64().unwrap(),
            ),
        }
    }

    /// torchvision's state dict as listed by PyTorch: (key, shape, checksum).
    pub fn state_dict_entries(&self) -> Vec<(String, Vec<usize>, u64)> {
        self.json("state_dict")
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let key = e[0].as_str().unwrap().to_string();
                let shape = e[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect();
                let sum = u64::from_str_radix(e[2].as_str().unwrap(), 16).unwrap();
                (key, shape, sum)
            })
            .collect()
    }

    /// The synthetic state dict rebuilt in Rust, checked tensor by tensor against PyTorch's
    /// checksums (bit-exact weights), in torchvision's naming.
    pub fn synthetic_weights(&self) -> Vec<SyntheticTensor> {
        self.state_dict_entries()
            .into_iter()
            .map(|(key, shape, sum)| {
                let t = synthetic::synthetic_tensor(&key, &shape).expect("synthetic rule");
                assert_eq!(
                    t.checksum(),
                    sum,
                    "{}: synthetic `{key}` {shape:?} differs from PyTorch's",
                    self.name
                );
                t
            })
            .collect()
    }

    /// Writes the synthetic weights as a torchvision-format `.safetensors` file in a fresh
    /// temporary folder; returns the folder (removed when dropped) and the file's path.
    pub fn write_synthetic_safetensors(&self) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix("curtain-parity-")
            .tempdir()
            .unwrap();
        let path = dir.path().join(format!("{}.safetensors", self.name));
        synthetic::write_safetensors(&self.synthetic_weights(), &path).unwrap();
        (dir, path)
    }
}

/// Relative error `‖a − b‖₂ / ‖b‖₂` in f64 over the whole tensor (`b` is the reference).
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "rel_err: lengths differ");
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let d = f64::from(*x) - f64::from(*y);
        num += d * d;
        den += f64::from(*y) * f64::from(*y);
    }
    (num / den).sqrt()
}

/// Elementwise difference `a − b`.
pub fn sub(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}
