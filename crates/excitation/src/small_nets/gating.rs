//! Gates of a small network and the three ways one forward pass can apply them.
//!
//! A ReLU is the gating `x = g ⊙ z`, `g = [z > 0]` (Sec. 2.2). A 2×2 max-pool is a gating
//! of its inputs by the one-hot mask `m` of each window's arg-max followed by a fixed
//! sum-pool, `pool(x) = sumpool(m ⊙ x)` (the structural similarity of Sec. 6.3); its
//! excitation counterpart is the softmax weight `softmax(window / T)` (Listing 2).
//!
//! The layers are the crate's own [`GatedRelu`] and [`GatedMaxPool2d`] (the ones the
//! torchvision models use); this module only says which of their passes a [`GateMode`]
//! selects: their ordinary or excitation forward ([`GradientMode`]), or their frozen-gate
//! forward (`forward_frozen`) with masks supplied from outside, which the π-induced network
//! `f_π` needs and the full-size models do not.

use burn::tensor::Tensor;

use crate::experiment_error::{ExperimentError, ExperimentResult};
use crate::gate::{GradientMode, Sigma};
use crate::max_pool::{GatedMaxPool2d, GatedMaxPool2dConfig};
use crate::relu::GatedRelu;

/// How the network applies its gates.
#[derive(Debug, Clone, Copy)]
pub enum GateMode<'a> {
    /// The ordinary network: ReLU and max-pool, ordinary gradients (`v_G`, Eq. 8).
    Relu,
    /// Forward as [`GateMode::Relu`]; backward through `σ(z/T)` for each ReLU and the
    /// softmax-pool surrogate for each max-pool (the excitation pullback `v_Γ`, Sec. 4.2).
    Excitation {
        /// Temperature `T` of `σ(z) = sigmoid(z/T)` and of the soft pool.
        temperature: f32,
    },
    /// Gates frozen to given binary masks, one per gate layer in the network's order
    /// ([`Gates`]): the π-induced network `f_π` with `π = G̃^(s)` (Sec. 5.1).
    Frozen(&'a Gates),
}

impl GateMode<'_> {
    /// The layers' gradient mode for the ordinary and excitation passes (`None` when the
    /// gates are frozen): `Relu` is `Vanilla`, `Excitation { T }` the paper's sigmoid gate.
    pub fn gradient_mode(self) -> Option<GradientMode> {
        match self {
            GateMode::Relu => Some(GradientMode::Vanilla),
            GateMode::Excitation { temperature } => Some(GradientMode::Excitation {
                sigma: Sigma::Sigmoid,
                temperature: temperature as f64,
            }),
            GateMode::Frozen(_) => None,
        }
    }

    /// In [`GateMode::Frozen`], checks that there is one mask layer per gate layer of a
    /// network with `gate_layers` of them.
    pub fn check_gate_count(self, gate_layers: usize) -> ExperimentResult<()> {
        match self {
            GateMode::Frozen(gates) if gates.layers.len() != gate_layers => {
                Err(ExperimentError::Shape(format!(
                    "{} frozen gate layers for a network with {gate_layers}",
                    gates.layers.len()
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Whether a gate layer belongs to a ReLU or to a max-pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GateKind {
    /// ReLU gate `[z > 0]` on a conv unit's output.
    Relu,
    /// One-hot arg-max mask of a 2×2 max-pool over its input.
    MaxPool,
}

/// One gate layer's masks for a batch.
///
/// # Shapes
/// `mask`: `[N, C, H, W]`, the shape of the gated tensor, entries in `{0, 1}`.
#[derive(Debug, Clone)]
pub struct GateLayer {
    /// Layer name, e.g. `block1.conv0.relu` or `block1.pool`.
    pub name: String,
    /// ReLU or max-pool.
    pub kind: GateKind,
    /// The binary mask.
    pub mask: Tensor<4>,
}

/// All gate masks of a network for a batch, in forward order.
#[derive(Debug, Clone)]
pub struct Gates {
    /// One entry per gate layer.
    pub layers: Vec<GateLayer>,
}

/// The 2×2, stride-2 max-pool of the small networks in `mode`.
pub fn max_pool_layer(mode: GradientMode) -> GatedMaxPool2d {
    GatedMaxPool2dConfig::new(2).init(mode)
}

fn layer_error(name: &str, e: crate::Error) -> ExperimentError {
    ExperimentError::Shape(format!("gate layer `{name}`: {e}"))
}

/// The binary gate of a gate layer of `kind` at its input `z` (`[z > 0]` for a ReLU, the
/// arg-max mask for a 2×2 max-pool).
///
/// # Shapes
/// `z`: `[N, C, H, W]` (even `H`, `W` for a pool) → same.
pub fn gate_of(kind: GateKind, z: &Tensor<4>) -> ExperimentResult<Tensor<4>> {
    match kind {
        GateKind::Relu => Ok(GatedRelu::default().gate(z)),
        GateKind::MaxPool => max_pool_layer(GradientMode::Vanilla)
            .gate(z)
            .map_err(|e| layer_error("max-pool", e)),
    }
}

/// Applies ReLU number `layer` (in forward order among all gate layers) in `mode`.
///
/// # Shapes
/// `z`: `[N, C, H, W]` → same; in [`GateMode::Frozen`] gate layer `layer` must exist and
/// have `z`'s shape.
pub fn apply_relu(z: Tensor<4>, mode: GateMode<'_>, layer: usize) -> ExperimentResult<Tensor<4>> {
    match mode.gradient_mode() {
        Some(m) => Ok(GatedRelu::new(m).forward(z)),
        None => {
            let g = frozen_layer(mode, layer)?;
            GatedRelu::default()
                .forward_frozen(z, g.mask.clone())
                .map_err(|e| layer_error(&g.name, e))
        }
    }
}

/// Applies the 2×2 max-pool that is gate layer `layer` in `mode`.
///
/// # Shapes
/// `x`: `[N, C, H, W]` with even `H`, `W` → `[N, C, H/2, W/2]`.
pub fn apply_max_pool(
    x: Tensor<4>,
    mode: GateMode<'_>,
    layer: usize,
) -> ExperimentResult<Tensor<4>> {
    match mode.gradient_mode() {
        Some(m) => Ok(max_pool_layer(m).forward(x)),
        None => {
            let g = frozen_layer(mode, layer)?;
            max_pool_layer(GradientMode::Vanilla)
                .forward_frozen(x, g.mask.clone())
                .map_err(|e| layer_error(&g.name, e))
        }
    }
}

fn frozen_layer<'a>(mode: GateMode<'a>, layer: usize) -> ExperimentResult<&'a GateLayer> {
    match mode {
        GateMode::Frozen(gates) => gates.layers.get(layer).ok_or_else(|| {
            ExperimentError::Shape(format!(
                "gate layer {layer} asked for, {} frozen layers given",
                gates.layers.len()
            ))
        }),
        _ => Err(ExperimentError::Config(
            "no frozen gates in this mode".into(),
        )),
    }
}

/// Softmax weights of each 2×2 window at temperature `T`: the excitation factor of a
/// max-pool gate.
///
/// # Shapes
/// `x`: `[N, C, H, W]` with even `H`, `W` → same.
pub fn soft_pool_weights(x: &Tensor<4>, temperature: f32) -> ExperimentResult<Tensor<4>> {
    max_pool_layer(GradientMode::Vanilla)
        .soft_weights(x, temperature as f64)
        .map_err(|e| layer_error("max-pool", e))
}

/// `σ(z/T)` with the paper's sigmoid: the excitation factor of a ReLU gate.
///
/// # Shapes
/// `z`: any `[N, C, H, W]` → same.
pub fn relu_excitation(z: &Tensor<4>, temperature: f32) -> Tensor<4> {
    GatedRelu::new(GradientMode::Excitation {
        sigma: Sigma::Sigmoid,
        temperature: temperature as f64,
    })
    .excitation(z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t4(v: Vec<f32>, s: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v, s), &Device::flex())
    }

    #[test]
    fn modes_dispatch_to_the_layers() {
        // One 2×4 channel: windows [1, 5 / 2, 0] and [0, 0 / 0, 0] (a tie: first wins).
        let x = t4(vec![1., 5., 0., 0., 2., 0., 0., 0.], [1, 1, 2, 4]);
        let m = gate_of(GateKind::MaxPool, &x)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(m, vec![0., 1., 1., 0., 0., 0., 0., 0.]);
        let pooled = apply_max_pool(x.clone(), GateMode::Relu, 0)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(pooled, vec![5., 0.]);
        // Frozen to the mask of another input: picks that input's arg-max positions.
        let other = t4(vec![9., 0., 0., 0., 0., 0., 0., 1.], [1, 1, 2, 4]);
        let gates = Gates {
            layers: vec![
                GateLayer {
                    name: "r".into(),
                    kind: GateKind::Relu,
                    mask: gate_of(GateKind::Relu, &other).unwrap(),
                },
                GateLayer {
                    name: "p".into(),
                    kind: GateKind::MaxPool,
                    mask: gate_of(GateKind::MaxPool, &other).unwrap(),
                },
            ],
        };
        let frozen = apply_max_pool(x.clone(), GateMode::Frozen(&gates), 1).unwrap();
        assert_eq!(
            frozen.into_data().try_to_vec::<f32>().unwrap(),
            vec![1., 0.]
        );
        let r = apply_relu(x.clone(), GateMode::Frozen(&gates), 0)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(r, vec![1., 0., 0., 0., 0., 0., 0., 0.]);
        // A missing layer or a mask of the wrong shape is an error naming the layer.
        assert!(apply_relu(x.clone(), GateMode::Frozen(&gates), 2).is_err());
        let err = apply_relu(t4(vec![0.; 4], [1, 1, 2, 2]), GateMode::Frozen(&gates), 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`r`"), "{err}");
        assert!(matches!(
            GateMode::Excitation { temperature: 0.3 }.gradient_mode(),
            Some(GradientMode::Excitation { .. })
        ));
    }
}
