//! Gate agreement: the fraction of gates (over probe images and units) on which two
//! checkpoints agree, `mean [G^(s)(x) = G^(t)(x)]`, per layer.

use super::probe::PackedGates;
use crate::experiment_error::{ExperimentError, ExperimentResult};

/// Per-layer fraction of equal gate bits between two checkpoints' gates on the same probe.
pub fn gate_agreement(a: &PackedGates, b: &PackedGates) -> ExperimentResult<Vec<f64>> {
    if a.n != b.n || a.dims != b.dims {
        return Err(ExperimentError::Shape(format!(
            "gates of {} images with layers {:?} against {} images with layers {:?}",
            a.n, a.dims, b.n, b.dims
        )));
    }
    Ok((0..a.bits.len())
        .map(|k| {
            let total = a.n * a.layer_len(k);
            let diff: u64 = a.bits[k]
                .iter()
                .zip(&b.bits[k])
                .map(|(x, y)| (x ^ y).count_ones() as u64)
                .sum();
            1.0 - diff as f64 / total.max(1) as f64
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::small_nets::GateKind;

    #[test]
    fn counts_equal_bits_per_layer() {
        let mk = |bits: Vec<Vec<u64>>| PackedGates {
            names: vec![
                ("a".into(), GateKind::Relu),
                ("b".into(), GateKind::MaxPool),
            ],
            dims: vec![[1, 1, 4], [1, 2, 50]],
            n: 2,
            bits,
        };
        // Layer a: 8 bits; layer b: 200 bits over 4 words.
        let x = mk(vec![vec![0b1010_1010], vec![0, 0, 0, 0]]);
        let y = mk(vec![vec![0b1010_0101], vec![u64::MAX, 0, 0, 0]]);
        let ag = gate_agreement(&x, &y).unwrap();
        assert!((ag[0] - 4.0 / 8.0).abs() < 1e-12);
        assert!((ag[1] - (1.0 - 64.0 / 200.0)).abs() < 1e-12);
        assert_eq!(gate_agreement(&x, &x).unwrap(), vec![1.0, 1.0]);
    }
}
