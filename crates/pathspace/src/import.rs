//! Loading an MLP from a PyTorch `state_dict` saved as safetensors.
//!
//! The model is an `nn.Sequential` of `Linear` and `ReLU` layers, e.g.
//! `nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))`,
//! saved with `safetensors.torch.save_file(model.state_dict(), path)`. Keys are
//! `{k}.weight` (shape \[out, in\]) and `{k}.bias` (shape \[out\]) for the Linear modules at
//! positions k; they are taken in increasing k, ReLU between consecutive Linears, and the
//! last Linear is the head y (with its bias). F32 and F64 tensors are accepted.

use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::mlp::Mlp;

fn to_f64(key: &str, view: &safetensors::tensor::TensorView<'_>) -> Result<Vec<f64>> {
    let data = view.data();
    match view.dtype() {
        Dtype::F32 => Ok(data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect()),
        Dtype::F64 => Ok(data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()),
        other => Err(Error::WrongDtype {
            key: key.to_string(),
            dtype: format!("{other:?}"),
        }),
    }
}

impl Mlp {
    /// Reads a safetensors file holding an `nn.Sequential` MLP state_dict.
    pub fn from_safetensors_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_safetensors_bytes(&bytes)
    }

    /// Parses safetensors bytes holding an `nn.Sequential` MLP state_dict.
    ///
    /// # Errors
    /// Invalid bytes, keys other than `{k}.weight`/`{k}.bias`, a missing bias, fewer than
    /// two Linear layers, shapes that do not chain, or dtypes other than F32/F64.
    pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors(e.to_string()))?;
        let mut names: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
        names.sort();
        let found = names.join(", ");
        let mut indices: Vec<usize> = Vec::new();
        let mut bias_indices: Vec<usize> = Vec::new();
        for name in &names {
            let parsed = name
                .strip_suffix(".weight")
                .or_else(|| name.strip_suffix(".bias"))
                .and_then(|k| k.parse::<usize>().ok());
            match parsed {
                Some(k) => {
                    if name.ends_with(".weight") {
                        indices.push(k);
                    } else {
                        bias_indices.push(k);
                    }
                }
                None => {
                    return Err(Error::InvalidArgument(format!(
                        "unexpected state_dict key `{name}`: only an nn.Sequential of Linear/ReLU \
                         (keys `{{k}}.weight`, `{{k}}.bias`) is supported"
                    )))
                }
            }
        }
        indices.sort_unstable();
        // a bias without its weight would otherwise be skipped, silently dropping a layer
        if let Some(k) = bias_indices
            .iter()
            .find(|k| indices.binary_search(k).is_err())
        {
            return Err(Error::MissingKey {
                key: format!("{k}.weight"),
                found,
            });
        }
        if indices.len() < 2 {
            let key = if indices.is_empty() {
                "0.weight".to_string()
            } else {
                format!("{}.weight", indices[0] + 2)
            };
            return Err(Error::MissingKey {
                key,
                found: format!("{found} (need at least one hidden Linear and a head Linear)"),
            });
        }
        let mut layers: Vec<(Array2<f64>, Array1<f64>)> = Vec::new();
        let mut prev: Option<(String, usize)> = None;
        for k in indices {
            let wkey = format!("{k}.weight");
            let bkey = format!("{k}.bias");
            let w = st
                .tensor(&wkey)
                .map_err(|e| Error::Safetensors(e.to_string()))?;
            let b = st.tensor(&bkey).map_err(|_| Error::MissingKey {
                key: bkey.clone(),
                found: found.clone(),
            })?;
            let shape = w.shape().to_vec();
            if shape.len() != 2 {
                return Err(Error::WrongShape {
                    key: wkey,
                    got: shape,
                    expected: "[out, in] (2-D)".into(),
                });
            }
            if let Some((pkey, pout)) = &prev {
                if shape[1] != *pout {
                    return Err(Error::WrongShape {
                        key: wkey,
                        got: shape.clone(),
                        expected: format!("[{}, {pout}] (`{pkey}` has {pout} outputs)", shape[0]),
                    });
                }
            }
            if b.shape() != [shape[0]] {
                return Err(Error::WrongShape {
                    key: bkey,
                    got: b.shape().to_vec(),
                    expected: format!("[{}] (rows of `{wkey}`)", shape[0]),
                });
            }
            let wv = Array2::from_shape_vec((shape[0], shape[1]), to_f64(&wkey, &w)?)
                .expect("shape checked");
            let bv = Array1::from_vec(to_f64(&bkey, &b)?);
            prev = Some((wkey, shape[0]));
            layers.push((wv, bv));
        }
        let (head, head_bias) = layers.pop().expect("at least two layers");
        let (weights, biases) = layers.into_iter().unzip();
        Mlp::new(weights, biases, head, head_bias)
    }
}

impl Mlp {
    /// Serialises the network as the state_dict of the equivalent `nn.Sequential`
    /// (keys `0.weight`, `0.bias`, `2.weight`, …, the head last), in F64.
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        let mut entries: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        let le =
            |v: &mut dyn Iterator<Item = f64>| v.flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        for l in 1..=self.depth() {
            let k = 2 * (l - 1);
            let w = self.weight(l);
            entries.push((
                format!("{k}.weight"),
                w.shape().to_vec(),
                le(&mut w.iter().cloned()),
            ));
            entries.push((
                format!("{k}.bias"),
                vec![w.nrows()],
                le(&mut self.bias(l).iter().cloned()),
            ));
        }
        let k = 2 * self.depth();
        entries.push((
            format!("{k}.weight"),
            self.head().shape().to_vec(),
            le(&mut self.head().iter().cloned()),
        ));
        entries.push((
            format!("{k}.bias"),
            vec![self.num_classes()],
            le(&mut self.head_bias().iter().cloned()),
        ));
        let views = entries
            .iter()
            .map(|(name, shape, data)| {
                safetensors::tensor::TensorView::new(Dtype::F64, shape.clone(), data)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| Error::Safetensors(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        safetensors::serialize(views, None).map_err(|e| Error::Safetensors(e.to_string()))
    }
}
