//! Seeded helpers shared by the unit tests (compiled for tests only).

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};

use crate::classifier::Classifier;
use crate::weights::{load_state_dict, state_dict};

/// Deterministic values in [−1, 1) from a 64-bit LCG.
pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

/// Fills every parameter and BatchNorm statistic with seeded values: He-uniform weights,
/// BN γ ∈ [0.5, 1.5), β and running means small, running variances ∈ [0.5, 1.3).
pub(crate) fn fill<M: Classifier>(model: &mut M, seed: u64) {
    let mut sd = state_dict(model).expect("state dict");
    for (k, t) in sd.iter_mut().enumerate() {
        let u = values(
            t.values.len(),
            seed.wrapping_mul(1000).wrapping_add(k as u64),
        );
        let fan_in: usize = t.shape.iter().skip(1).product::<usize>().max(1);
        let he = (6.0 / fan_in as f32).sqrt();
        // 1-D `weight`s are BatchNorm scales in these models (conv/linear weights are ≥ 2-D).
        let is_bn_scale = t.shape.len() == 1 && t.name.ends_with(".weight");
        t.values = u
            .iter()
            .map(|&v| {
                if t.name.ends_with("running_var") {
                    0.9 + 0.4 * v
                } else if t.name.ends_with("running_mean") {
                    0.1 * v
                } else if is_bn_scale {
                    1.0 + 0.5 * v
                } else if t.name.ends_with("bias") {
                    0.1 * v
                } else {
                    he * v
                }
            })
            .collect();
    }
    load_state_dict(model, &sd).expect("load filled state dict");
}

/// Seeded images in [−1, 1].
pub(crate) fn images(batch: usize, h: usize, w: usize, seed: u64, device: &Device) -> Tensor<4> {
    let v = values(batch * 3 * h * w, seed);
    Tensor::from_data(TensorData::new(v, [batch, 3, h, w]), device)
}

/// A path `name` inside a fresh temporary folder; the folder and everything in it are
/// removed when the guard is dropped. Derefs to the path.
pub(crate) struct TempPath {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TempPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// A fresh path named `name` in its own temporary folder (nothing is created at the path).
pub(crate) fn temp_path(name: &str) -> TempPath {
    let dir = tempfile::Builder::new()
        .prefix("excitation-tests-")
        .tempdir()
        .expect("temp dir");
    TempPath {
        path: dir.path().join(name),
        _dir: dir,
    }
}

/// Max |a − b| / max(1, max |b|).
pub(crate) fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs() as f64)).max(1e-30);
    let diff = a
        .iter()
        .zip(b)
        .fold(0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs()));
    diff / scale
}
