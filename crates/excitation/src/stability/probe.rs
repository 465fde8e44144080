//! The fixed probe set and the gates `G^(t)(X)` of a checkpoint on it, bit-packed.

use burn::tensor::{Device, Tensor, TensorData};

use crate::backend::tensor_to_vec;
use crate::data::Dataset;
use crate::experiment_error::ExperimentResult;
use crate::small_nets::{GateKind, GateLayer, GateMode, GatedNetwork, Gates};

/// A probe set: the images measurements run on, in batches.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The images.
    pub data: Dataset,
    /// Batch size of forward passes.
    pub batch: usize,
}

impl Probe {
    /// Index ranges of the batches.
    pub fn batches(&self) -> Vec<std::ops::Range<usize>> {
        (0..self.data.len())
            .step_by(self.batch.max(1))
            .map(|s| s..(s + self.batch).min(self.data.len()))
            .collect()
    }

    /// Images of one batch, `[n, C, H, W]` in `[-1, 1]`.
    pub fn images(&self, range: std::ops::Range<usize>, device: &Device) -> Tensor<4> {
        let idx: Vec<usize> = range.collect();
        self.data.batch(&idx, None, device).images
    }
}

/// Binary gates of every gate layer on every probe image, one bit each.
#[derive(Debug, Clone)]
pub struct PackedGates {
    /// Layer names and kinds, forward order.
    pub names: Vec<(String, GateKind)>,
    /// `[C, H, W]` of each layer.
    pub dims: Vec<[usize; 3]>,
    /// Images.
    pub n: usize,
    /// Per layer: `n · C·H·W` bits, image-major.
    pub bits: Vec<Vec<u64>>,
}

fn pack_into(bits: &mut Vec<u64>, offset: usize, values: &[f32]) {
    let need = (offset + values.len()).div_ceil(64);
    if bits.len() < need {
        bits.resize(need, 0);
    }
    for (i, &v) in values.iter().enumerate() {
        if v > 0.5 {
            let k = offset + i;
            bits[k / 64] |= 1u64 << (k % 64);
        }
    }
}

impl PackedGates {
    /// Runs `model` (the ordinary network) over the probe and packs its gates.
    pub fn compute(
        model: &dyn GatedNetwork,
        probe: &Probe,
        device: &Device,
    ) -> ExperimentResult<Self> {
        let names = model.gate_names();
        let mut dims = Vec::new();
        let mut bits: Vec<Vec<u64>> = vec![Vec::new(); names.len()];
        for r in probe.batches() {
            let start = r.start;
            let tr = model.forward_traced(probe.images(r, device), GateMode::Relu)?;
            for (k, layer) in tr.gates()?.layers.into_iter().enumerate() {
                let [_, c, h, w] = layer.mask.dims();
                if dims.len() <= k {
                    dims.push([c, h, w]);
                }
                let v = tensor_to_vec(layer.mask)?;
                pack_into(&mut bits[k], start * c * h * w, &v);
            }
        }
        Ok(Self {
            names,
            dims,
            n: probe.data.len(),
            bits,
        })
    }

    /// Entries per image of layer `k`.
    pub fn layer_len(&self, k: usize) -> usize {
        self.dims[k].iter().product()
    }

    /// The masks of images `range` as a [`Gates`] for [`GateMode::Frozen`].
    ///
    /// # Shapes
    /// Each mask `[range.len(), C, H, W]`.
    pub fn gates(&self, range: std::ops::Range<usize>, device: &Device) -> Gates {
        let layers = (0..self.names.len())
            .map(|k| {
                let len = self.layer_len(k);
                let [c, h, w] = self.dims[k];
                let v: Vec<f32> = (range.start * len..range.end * len)
                    .map(|i| ((self.bits[k][i / 64] >> (i % 64)) & 1) as f32)
                    .collect();
                GateLayer {
                    name: self.names[k].0.clone(),
                    kind: self.names[k].1,
                    mask: Tensor::from_data(TensorData::new(v, [range.len(), c, h, w]), device),
                }
            })
            .collect();
        Gates { layers }
    }
}
