//! Gates of a ReLU network and the three ways a small network can apply them.
//!
//! A ReLU is the gating `x = g ⊙ z`, `g = [z > 0]` (Sec. 2.2). A 2×2 max-pool is a gating
//! of its inputs by the one-hot mask `m` of each window's arg-max followed by a fixed
//! sum-pool, `pool(x) = sumpool(m ⊙ x)` (the structural similarity of Sec. 6.3); its
//! excitation counterpart is the softmax weight `softmax(window / T)` (Listing 2).

use burn::tensor::activation::{relu, sigmoid, softmax};
use burn::tensor::{Int, Tensor};

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

/// The binary ReLU gate `[z > 0]`.
///
/// # Shapes
/// Any `[N, C, H, W]` → same.
pub fn relu_gate(z: &Tensor<4>) -> Tensor<4> {
    z.clone().greater_elem(0.0).float()
}

/// Applies a ReLU in the given mode; in [`GateMode::Frozen`] it uses gate layer `layer`
/// (the caller checked that it exists and has `z`'s shape).
///
/// # Shapes
/// `z`: `[N, C, H, W]` → same.
pub fn gated_relu(z: Tensor<4>, mode: GateMode<'_>, layer: usize) -> Tensor<4> {
    match mode {
        GateMode::Relu => relu(z),
        GateMode::Excitation { temperature } => {
            let zd = z.clone().detach();
            let gate = sigmoid(zd.clone() / temperature as f64);
            relu(zd.clone()) + (z - zd) * gate
        }
        GateMode::Frozen(gates) => z * gates.layers[layer].mask.clone(),
    }
}

/// `[N, C, H, W]` → `[N, C, H/2, W/2, 4]`: the four entries of each 2×2 window last.
fn windows(x: Tensor<4>) -> Tensor<5> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h / 2, 2, w / 2, 2]).permute([0, 1, 2, 4, 3, 5]).reshape([n, c, h / 2, w / 2, 4])
}

/// Inverse of [`windows`].
fn unwindows(x: Tensor<5>) -> Tensor<4> {
    let [n, c, h2, w2, _] = x.dims();
    x.reshape([n, c, h2, w2, 2, 2]).permute([0, 1, 2, 4, 3, 5]).reshape([n, c, h2 * 2, w2 * 2])
}

/// The one-hot arg-max mask of each 2×2 window (the first maximum on ties, as PyTorch).
///
/// # Shapes
/// `x`: `[N, C, H, W]` with even `H`, `W` → same.
pub fn max_pool_gate(x: &Tensor<4>) -> Tensor<4> {
    let w = windows(x.clone().detach());
    let [n, c, h2, w2, _] = w.dims();
    let idx = w.argmax(4); // [n, c, h2, w2, 1]
    let lanes = Tensor::<1, Int>::arange(0..4, &x.device()).reshape([1, 1, 1, 1, 4]).expand([n, c, h2, w2, 4]);
    unwindows(idx.expand([n, c, h2, w2, 4]).equal(lanes).float())
}

/// Applies a 2×2, stride-2 max-pool in the given mode; in [`GateMode::Frozen`] it uses
/// gate layer `layer`.
///
/// # Shapes
/// `x`: `[N, C, H, W]` with even `H`, `W` → `[N, C, H/2, W/2]`.
pub fn gated_max_pool(x: Tensor<4>, mode: GateMode<'_>, layer: usize) -> Tensor<4> {
    match mode {
        GateMode::Relu => windows(x).max_dim(4).squeeze_dim(4),
        GateMode::Excitation { temperature } => {
            let win = windows(x);
            let hard = win.clone().detach().max_dim(4).squeeze_dim::<4>(4);
            let weights = softmax(win.clone() / temperature as f64, 4);
            let soft = (win * weights).sum_dim(4).squeeze_dim::<4>(4);
            hard + (soft.clone() - soft.detach())
        }
        GateMode::Frozen(gates) => {
            windows(x * gates.layers[layer].mask.clone()).sum_dim(4).squeeze_dim(4)
        }
    }
}

/// Softmax weights of each 2×2 window at temperature `T`: the excitation factor of a
/// max-pool gate.
///
/// # Shapes
/// `x`: `[N, C, H, W]` → same.
pub fn soft_pool_weights(x: &Tensor<4>, temperature: f32) -> Tensor<4> {
    unwindows(softmax(windows(x.clone()) / temperature as f64, 4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t4(v: Vec<f32>, s: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v, s), &Device::flex())
    }

    #[test]
    fn max_pool_gate_is_one_hot_first_max() {
        // One 2×4 channel: windows [1, 5 / 2, 0] and [0, 0 / 0, 0] (a tie: first wins).
        let x = t4(vec![1., 5., 0., 0., 2., 0., 0., 0.], [1, 1, 2, 4]);
        let m = max_pool_gate(&x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(m, vec![0., 1., 1., 0., 0., 0., 0., 0.]);
        let pooled = gated_max_pool(x.clone(), GateMode::Relu, 0).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(pooled, vec![5., 0.]);
        // Frozen to the mask of another input: picks that input's arg-max positions.
        let other = t4(vec![9., 0., 0., 0., 0., 0., 0., 1.], [1, 1, 2, 4]);
        let gates = Gates {
            layers: vec![GateLayer { name: "p".into(), kind: GateKind::MaxPool, mask: max_pool_gate(&other) }],
        };
        let frozen = gated_max_pool(x, GateMode::Frozen(&gates), 0);
        assert_eq!(frozen.into_data().try_to_vec::<f32>().unwrap(), vec![1., 0.]);
    }
}
