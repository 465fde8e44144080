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
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures"),
    }
}

/// One fixture file: tensors plus JSON metadata.
pub struct Fixture {
    pub name: String,
    bytes: Vec<u8>,
    meta: HashMap<String, String>,
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
        assert_eq!(meta.get("spec").map(String::as_str), Some("curtain-synthetic-v1"), "fixture spec");
        Self { name: name.to_string(), bytes, meta }
    }

    fn json(&self, key: &str) -> Value {
        let s = self.meta.get(key).unwrap_or_else(|| panic!("{}: no metadata `{key}`", self.name));
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{}: metadata `{key}`: {e}", self.name))
    }

    /// Whether the fixture holds a tensor called `name`.
    pub fn has(&self, name: &str) -> bool {
        SafeTensors::deserialize(&self.bytes).unwrap().tensor(name).is_ok()
    }

    /// The f32 tensor `name`.
    pub fn tensor(&self, name: &str) -> Array {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st.tensor(name).unwrap_or_else(|_| panic!("{}: no tensor `{name}`", self.name));
        assert_eq!(t.dtype(), Dtype::F32, "{}: `{name}` is not f32", self.name);
        let data = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Array { shape: t.shape().to_vec(), data }
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
        self.json("temperatures").as_array().unwrap().iter().map(|t| t.as_f64().unwrap()).collect()
    }

    /// Ascent parameters: `"ascent"` or `"ascent_small_eps"`.
    pub fn ascent(&self, which: &str) -> AscentParams {
        let a = self.json(which);
        AscentParams {
            alpha: a["alpha"].as_f64().unwrap(),
            eps: a["eps"].as_f64().unwrap(),
            steps: a["steps"].as_u64().unwrap() as usize,
            temperature: a["temperature"].as_f64().unwrap(),
            clip: (a["clip"][0].as_f64().unwrap(), a["clip"][1].as_f64().unwrap()),
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
                let shape = e[1].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
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
                assert_eq!(t.checksum(), sum, "{}: synthetic `{key}` {shape:?} differs from PyTorch's", self.name);
                t
            })
            .collect()
    }

    /// Writes the synthetic weights as a torchvision-format `.safetensors` file in a fresh
    /// temporary folder and returns its path.
    pub fn write_synthetic_safetensors(&self) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("curtain-parity-{}-{}", std::process::id(), self.name));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.safetensors", self.name));
        synthetic::write_safetensors(&self.synthetic_weights(), &path).unwrap();
        path
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
