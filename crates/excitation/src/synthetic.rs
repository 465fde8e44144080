//! Deterministic synthetic weights and images, reproduced bit for bit by the PyTorch
//! reference (`tools/reference/synthetic.py`), so parity tests need no weight files.
//!
//! For a tensor with state-dict key `k` and flat row-major index `i` (u64, wrapping):
//!
//! ```text
//! h = fnv1a64(utf8(k))
//! s = splitmix64(h ^ splitmix64(i))
//! u = (s >> 11) · 2⁻⁵³        f64 in [0, 1)
//! c = 2u − 1                  f64 in [−1, 1)
//! ```
//!
//! and the value, computed in f64 and rounded to f32 once, follows the key's suffix and rank
//! (see [`ParamRule`](crate::synthetic::ParamRule)): conv/linear weights `c · (2 / √fan_in)`, BatchNorm γ `1 + 0.25c`,
//! every bias (BatchNorm β, conv, linear) `0.1c`, running mean `0.2c`, running variance
//! `1 + 0.5c` ∈ [0.5, 1.5), `num_batches_tracked` 0 (i64). Input images use the key
//! `"input"` and the value `c` itself. The full specification, and why these scales, is in
//! `docs/reference-fixtures.md`.
//!
//! The state dict is written in torchvision's own naming and layout (`.safetensors`, f32
//! little-endian, `num_batches_tracked` as i64 scalars) so that tests load it through the
//! real weight loader.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, View};

use crate::error::{Error, Result};

/// The key whose hash generates input images.
pub const INPUT_KEY: &str = "input";

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64-bit hash of a byte string.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The splitmix64 finaliser (Steele, Lea & Flood 2014), wrapping.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The value `c ∈ [−1, 1)` (f64) at flat index `index` of the tensor with key hash `key_hash`.
pub fn unit_hashed(key_hash: u64, index: u64) -> f64 {
    let s = splitmix64(key_hash ^ splitmix64(index));
    // (s >> 11) < 2⁵³ is exact in f64, and so are the scaling by 2⁻⁵³ and 2u − 1.
    let u = (s >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    2.0 * u - 1.0
}

/// The value `c ∈ [−1, 1)` (f64) at flat index `index` of the tensor named `key`.
pub fn unit(key: &str, index: u64) -> f64 {
    unit_hashed(fnv1a64(key.as_bytes()), index)
}

/// Which rule of the formula a state-dict entry follows, decided by its key suffix and rank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamRule {
    /// Rank ≥ 2 `.weight` (convolution or linear): `c · (2 / √fan_in)`.
    Weight {
        /// Product of all dimensions but the first.
        fan_in: usize,
    },
    /// Rank-1 `.weight` (BatchNorm γ): `1 + 0.25c`.
    NormWeight,
    /// `.bias` (BatchNorm β, conv or linear bias): `0.1c`.
    Bias,
    /// `.running_mean`: `0.2c`.
    RunningMean,
    /// `.running_var`: `1 + 0.5c` ∈ [0.5, 1.5).
    RunningVar,
    /// `.num_batches_tracked`: i64 zero, not hashed.
    NumBatchesTracked,
}

impl ParamRule {
    /// The rule for `key` with `shape`, or an error naming the key if none applies.
    pub fn for_key(key: &str, shape: &[usize]) -> Result<Self> {
        let unknown = || Error::NoSyntheticRule {
            key: key.to_string(),
            shape: shape.to_vec(),
        };
        let rank = shape.len();
        if key.ends_with(".num_batches_tracked") {
            return Ok(Self::NumBatchesTracked);
        }
        if key.ends_with(".weight") {
            return match rank {
                0 => Err(unknown()),
                1 => Ok(Self::NormWeight),
                _ => {
                    let fan_in: usize = shape[1..].iter().product();
                    if fan_in == 0 {
                        Err(Error::ZeroFanIn {
                            key: key.to_string(),
                            shape: shape.to_vec(),
                        })
                    } else {
                        Ok(Self::Weight { fan_in })
                    }
                }
            };
        }
        if rank != 1 {
            return Err(unknown());
        }
        if key.ends_with(".bias") {
            Ok(Self::Bias)
        } else if key.ends_with(".running_mean") {
            Ok(Self::RunningMean)
        } else if key.ends_with(".running_var") {
            Ok(Self::RunningVar)
        } else {
            Err(unknown())
        }
    }

    /// The f64 value for the hash value `c` (rounded to f32 by the caller, once).
    fn value(self, c: f64) -> f64 {
        match self {
            Self::Weight { fan_in } => c * (2.0 / (fan_in as f64).sqrt()),
            Self::NormWeight => 1.0 + 0.25 * c,
            Self::Bias => 0.1 * c,
            Self::RunningMean => 0.2 * c,
            Self::RunningVar => 1.0 + 0.5 * c,
            Self::NumBatchesTracked => 0.0,
        }
    }
}

/// The values of one synthetic tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum SyntheticValues {
    /// Parameters and running statistics.
    F32(Vec<f32>),
    /// `num_batches_tracked` counters.
    I64(Vec<i64>),
}

/// One entry of a synthetic state dict, in torchvision's naming and layout.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticTensor {
    /// torchvision state-dict key, e.g. `layer1.0.conv1.weight`.
    pub key: String,
    /// PyTorch shape (row-major), e.g. `[64, 64, 1, 1]`; `[]` for scalars.
    pub shape: Vec<usize>,
    /// Flat row-major values.
    pub values: SyntheticValues,
}

impl SyntheticTensor {
    /// The order-free bit checksum of the values (see [`checksum_f32`], [`checksum_i64`]).
    pub fn checksum(&self) -> u64 {
        match &self.values {
            SyntheticValues::F32(v) => checksum_f32(v),
            SyntheticValues::I64(v) => checksum_i64(v),
        }
    }
}

/// The synthetic tensor of state-dict entry `key`.
///
/// # Shapes
/// `shape` is the PyTorch shape; the result holds `shape.iter().product()` values.
pub fn synthetic_tensor(key: &str, shape: &[usize]) -> Result<SyntheticTensor> {
    let rule = ParamRule::for_key(key, shape)?;
    let n: usize = shape.iter().product();
    let values = if rule == ParamRule::NumBatchesTracked {
        SyntheticValues::I64(vec![0; n])
    } else {
        let h = fnv1a64(key.as_bytes());
        SyntheticValues::F32(
            (0..n as u64)
                .map(|i| rule.value(unit_hashed(h, i)) as f32)
                .collect(),
        )
    };
    Ok(SyntheticTensor {
        key: key.to_string(),
        shape: shape.to_vec(),
        values,
    })
}

/// A full synthetic state dict for the given `(key, shape)` entries, in their order.
///
/// # Shapes
/// Each entry's shape is its PyTorch shape.
pub fn synthetic_state_dict<K: AsRef<str>>(
    entries: &[(K, Vec<usize>)],
) -> Result<Vec<SyntheticTensor>> {
    entries
        .iter()
        .map(|(k, s)| synthetic_tensor(k.as_ref(), s))
        .collect()
}

/// Synthetic input images in [−1, 1): the value `c` of key `"input"`, cast to f32.
///
/// # Shapes
/// `shape` is `[N, C, H, W]`; the result is the flat row-major `N·C·H·W` values.
pub fn synthetic_images(shape: [usize; 4]) -> Vec<f32> {
    let h = fnv1a64(INPUT_KEY.as_bytes());
    let n: usize = shape.iter().product();
    (0..n as u64).map(|i| unit_hashed(h, i) as f32).collect()
}

/// Order-free checksum of f32 bit patterns: `Σᵢ splitmix64(bitsᵢ ^ (i << 32))` (wrapping).
pub fn checksum_f32(values: &[f32]) -> u64 {
    values.iter().enumerate().fold(0u64, |acc, (i, v)| {
        acc.wrapping_add(splitmix64(u64::from(v.to_bits()) ^ ((i as u64) << 32)))
    })
}

/// Order-free checksum of i64 bit patterns: `Σᵢ splitmix64(bitsᵢ ^ (i << 32))` (wrapping).
pub fn checksum_i64(values: &[i64]) -> u64 {
    values.iter().enumerate().fold(0u64, |acc, (i, v)| {
        acc.wrapping_add(splitmix64((*v as u64) ^ ((i as u64) << 32)))
    })
}

impl View for &SyntheticTensor {
    fn dtype(&self) -> Dtype {
        match self.values {
            SyntheticValues::F32(_) => Dtype::F32,
            SyntheticValues::I64(_) => Dtype::I64,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(match &self.values {
            SyntheticValues::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            SyntheticValues::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
    }

    fn data_len(&self) -> usize {
        match &self.values {
            SyntheticValues::F32(v) => v.len() * 4,
            SyntheticValues::I64(v) => v.len() * 8,
        }
    }
}

/// Serialises a state dict as `.safetensors` bytes (torchvision naming, f32/i64 little-endian).
pub fn to_safetensors_bytes(tensors: &[SyntheticTensor]) -> Result<Vec<u8>> {
    safetensors::serialize(
        tensors.iter().map(|t| (t.key.as_str(), t)),
        None::<HashMap<String, String>>,
    )
    .map_err(|e| Error::WriteWeights {
        path: "<memory>".into(),
        reason: e.to_string(),
    })
}

/// Writes a state dict as a `.safetensors` file (torchvision naming, f32/i64 little-endian).
pub fn write_safetensors(tensors: &[SyntheticTensor], path: &Path) -> Result<()> {
    safetensors::serialize_to_file(
        tensors.iter().map(|t| (t.key.as_str(), t)),
        None::<HashMap<String, String>>,
        path,
    )
    .map_err(|e| Error::WriteWeights {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_and_splitmix_match_published_vectors() {
        // FNV-1a 64 test vectors (Fowler/Noll/Vo reference): "" and "a".
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        // splitmix64 seeded with 0: first outputs of Vigna's reference generator are
        // splitmix64(k · golden) for k = 0, 1, 2 in this stateless form.
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(0x9e37_79b9_7f4a_7c15), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn rules_follow_suffix_and_rank() {
        assert_eq!(
            ParamRule::for_key("layer1.0.conv1.weight", &[64, 64, 1, 1]).unwrap(),
            ParamRule::Weight { fan_in: 64 }
        );
        assert_eq!(
            ParamRule::for_key("fc.weight", &[10, 32]).unwrap(),
            ParamRule::Weight { fan_in: 32 }
        );
        assert_eq!(
            ParamRule::for_key("bn1.weight", &[64]).unwrap(),
            ParamRule::NormWeight
        );
        assert_eq!(
            ParamRule::for_key("fc.bias", &[10]).unwrap(),
            ParamRule::Bias
        );
        assert_eq!(
            ParamRule::for_key("bn1.running_var", &[8]).unwrap(),
            ParamRule::RunningVar
        );
        assert_eq!(
            ParamRule::for_key("bn1.num_batches_tracked", &[]).unwrap(),
            ParamRule::NumBatchesTracked
        );
        let err = ParamRule::for_key("attn.in_proj", &[3, 3])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("attn.in_proj") && err.contains("[3, 3]"),
            "{err}"
        );
        assert!(ParamRule::for_key("fc.bias", &[2, 2]).is_err());
        assert!(matches!(
            ParamRule::for_key("conv.weight", &[4, 0, 3, 3]),
            Err(Error::ZeroFanIn { .. })
        ));
    }

    #[test]
    fn values_stay_in_their_ranges() {
        let var = synthetic_tensor("bn.running_var", &[4096]).unwrap();
        let SyntheticValues::F32(v) = &var.values else {
            panic!("f32 expected")
        };
        assert!(v.iter().all(|&x| (0.5..=1.5).contains(&x)));
        let spread =
            v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min);
        assert!(
            spread > 0.99,
            "running_var should fill [0.5, 1.5), spread {spread}"
        );
        let w = synthetic_tensor("conv.weight", &[16, 4, 3, 3]).unwrap();
        let SyntheticValues::F32(w) = &w.values else {
            panic!("f32 expected")
        };
        let bound = (2.0 / 36f64.sqrt()) as f32;
        assert!(w.iter().all(|x| x.abs() <= bound));
        let mean = w.iter().map(|&x| f64::from(x)).sum::<f64>() / w.len() as f64;
        assert!(mean.abs() < 0.05 * f64::from(bound), "mean {mean}");
        let img = synthetic_images([1, 3, 8, 8]);
        assert!(img.iter().all(|x| (-1.0..1.0).contains(x)));
        // Different keys give different streams.
        assert_ne!(unit("a.weight", 0), unit("b.weight", 0));
    }

    #[test]
    fn safetensors_round_trip() {
        let sd = synthetic_state_dict(&[
            ("conv.weight", vec![2, 3, 1, 1]),
            ("bn.weight", vec![2]),
            ("bn.num_batches_tracked", vec![]),
        ])
        .unwrap();
        let bytes = to_safetensors_bytes(&sd).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let conv = st.tensor("conv.weight").unwrap();
        assert_eq!(conv.shape(), &[2, 3, 1, 1]);
        assert_eq!(conv.dtype(), Dtype::F32);
        let back: Vec<f32> = conv
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(SyntheticValues::F32(back), sd[0].values);
        let nbt = st.tensor("bn.num_batches_tracked").unwrap();
        assert_eq!((nbt.dtype(), nbt.shape()), (Dtype::I64, &[][..]));
    }
}

/// Cross-language check against values computed by `tools/reference/synthetic.py`.
#[cfg(test)]
mod python_cross_check {
    use super::*;
    use serde_json::Value;

    const JSON: &str = include_str!("../tests/fixtures/synthetic_values.json");

    fn hex(v: &Value) -> u64 {
        u64::from_str_radix(v.as_str().expect("hex string"), 16).expect("hex checksum")
    }

    #[test]
    fn tensors_match_python_bit_for_bit() {
        let doc: Value = serde_json::from_str(JSON).unwrap();
        let entries = doc["tensors"].as_array().unwrap();
        assert!(entries.len() >= 8);
        for e in entries {
            let key = e["key"].as_str().unwrap();
            let shape: Vec<usize> = e["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let t = synthetic_tensor(key, &shape).unwrap();
            let first: Vec<u64> = e["first_bits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap())
                .collect();
            let ours: Vec<u64> = match &t.values {
                SyntheticValues::F32(v) => {
                    v.iter().take(8).map(|x| u64::from(x.to_bits())).collect()
                }
                SyntheticValues::I64(v) => v.iter().take(8).map(|x| *x as u64).collect(),
            };
            assert_eq!(ours, first, "first values of `{key}`");
            assert_eq!(t.checksum(), hex(&e["checksum"]), "checksum of `{key}`");
        }
        let img = &doc["images"];
        let shape: Vec<usize> = img["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let ours = synthetic_images([shape[0], shape[1], shape[2], shape[3]]);
        let first: Vec<u32> = img["first_bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            ours.iter().take(8).map(|x| x.to_bits()).collect::<Vec<_>>(),
            first
        );
        assert_eq!(checksum_f32(&ours), hex(&img["checksum"]));
        let units: Vec<u64> = doc["unit"]["first_f64_bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(hex)
            .collect();
        assert_eq!(units.len(), 4);
        for (i, u) in units.iter().enumerate() {
            assert_eq!(
                unit(INPUT_KEY, i as u64).to_bits(),
                *u,
                "unit(\"input\", {i})"
            );
        }
    }
}
