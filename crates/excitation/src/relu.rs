//! Gated ReLU: forward ReLU, backward multiplied by σ(z/T) (paper Listing 1, `TwoWayReLU`).
//!
//! The paper's excitation pullback replaces each ReLU derivative 1\[z > 0\] by the gate
//! σ(z/T) (Eq. 6 with Γ-gating). On the CPU backends this is one custom autodiff operation
//! ([`crate::gate_op`]); on the others it is written straight-through, which works on every
//! backend with autodiff:
//!
//! `relu(z).detach() + (z − z.detach()) · σ(z.detach()/T)`
//!
//! whose value is exactly relu(z) (the second term is exactly zero) and whose derivative with
//! respect to z is exactly σ(z/T). In [`GradientMode::Vanilla`] it is a plain ReLU, whose
//! derivative is 1\[z > 0\] (0 at z = 0, as in PyTorch).

use burn::module::Module;
use burn::tensor::{activation, Tensor};

use crate::error::{Error, Result};
use crate::gate::{GradientMode, Sigma};
use crate::gate_op;

/// ReLU whose backward pass follows a [`GradientMode`] (torchvision's `nn.ReLU` slot).
#[derive(Module, Debug, Default)]
pub struct GatedRelu {
    /// How the gradient flows backwards.
    #[module(skip)]
    pub mode: GradientMode,
}

impl GatedRelu {
    /// A gated ReLU following `mode`.
    pub fn new(mode: GradientMode) -> Self {
        Self { mode }
    }

    /// relu(z), with the backward pass of [`gated_relu`].
    ///
    /// # Shapes
    /// - `z`: any shape; output: same shape.
    pub fn forward<const D: usize>(&self, z: Tensor<D>) -> Tensor<D> {
        gated_relu(z, self.mode)
    }
}

impl GatedRelu {
    /// The binary gate `[z > 0]` this ReLU applies at `z` (its row of the gating `G(x)`,
    /// Sec. 2.2), as [`relu_gate`].
    ///
    /// # Shapes
    /// - `z`: any shape; output: same shape, entries in {0, 1}.
    pub fn gate<const D: usize>(&self, z: &Tensor<D>) -> Tensor<D> {
        relu_gate(z)
    }

    /// The factor this ReLU contributes to the excitation tensor `Γ̃` (Eq. 21): `σ(z/T)` in an
    /// `Excitation` mode, the gate `[z > 0]` in `Vanilla` (its `T → 0` limit).
    ///
    /// # Shapes
    /// - `z`: any shape; output: same shape.
    pub fn excitation<const D: usize>(&self, z: &Tensor<D>) -> Tensor<D> {
        match self.mode {
            GradientMode::Excitation { sigma, temperature } => sigma.gate(z.clone(), temperature),
            GradientMode::Vanilla => relu_gate(z),
        }
    }

    /// The forward pass with the gate frozen to `mask` instead of `[z > 0]`: `z ⊙ mask`, the
    /// π-induced network `f_π` of Sec. 5.1 when `mask` holds another network's (or another
    /// checkpoint's) gates. The gradient is `mask` as well, whatever the mode.
    ///
    /// # Shapes
    /// - `z`, `mask`: the same shape; output: that shape.
    pub fn forward_frozen<const D: usize>(
        &self,
        z: Tensor<D>,
        mask: Tensor<D>,
    ) -> Result<Tensor<D>> {
        if z.dims() != mask.dims() {
            return Err(Error::InvalidShape {
                what: "frozen ReLU gate",
                found: mask.dims().to_vec(),
                expected: format!("the shape of the ReLU's input, {:?}", z.dims()),
            });
        }
        Ok(z * mask)
    }
}

/// The binary ReLU gate `[z > 0]` (0 at `z = 0`, where PyTorch's ReLU derivative is 0).
///
/// # Shapes
/// - `z`: any shape; output: same shape, entries in {0, 1}.
pub fn relu_gate<const D: usize>(z: &Tensor<D>) -> Tensor<D> {
    z.clone().greater_elem(0.0).float()
}

/// relu(z) whose derivative is 1\[z > 0\] (`Vanilla`) or σ(z/T) (`Excitation`).
///
/// When `z` carries no autodiff graph the plain ReLU is returned (same value, no extra work).
/// On flex and ndarray the vanilla ReLU is [`gate_op::relu`] (on flex split over the threads;
/// flex's own ReLU and its backward pass run on the calling thread).
/// On flex and ndarray the excitation ReLU is one custom autodiff operation
/// ([`crate::gate_op`]); elsewhere (wgpu) it is the straight-through form
/// [`straight_through_relu`]. Both give the same value and, to float32 rounding, the same
/// gradient.
///
/// # Shapes
/// - `z`: any shape; output: same shape.
pub fn gated_relu<const D: usize>(z: Tensor<D>, mode: GradientMode) -> Tensor<D> {
    match mode {
        GradientMode::Excitation { sigma, temperature } if z.is_tracked() => {
            if gate_op::supported(&z.device()) {
                gate_op::excitation_relu(z, sigma, temperature)
            } else {
                straight_through_relu(z, sigma, temperature)
            }
        }
        // Vanilla, or no graph: ReLU's own gradient (one operation on the CPU backends).
        _ if gate_op::supported(&z.device()) => gate_op::relu(z),
        _ => activation::relu(z),
    }
}

/// `relu(z).detach() + (z − z.detach()) · σ(z.detach()/T)`: value relu(z), derivative σ(z/T),
/// from tensor operations that every backend with autodiff has.
///
/// # Shapes
/// - `z`: any shape; output: same shape.
pub fn straight_through_relu<const D: usize>(
    z: Tensor<D>,
    sigma: Sigma,
    temperature: f64,
) -> Tensor<D> {
    let z_const = z.clone().detach();
    let gate = sigma.gate(z_const.clone(), temperature);
    let value = activation::relu(z_const.clone());
    value + (z - z_const) * gate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use burn::tensor::TensorData;

    fn inputs() -> Vec<f32> {
        vec![
            -3.0, -1.2, -0.31, -0.02, 0.0, 0.015, 0.29, 0.7, 1.9, 4.5, -20.0, 20.0,
        ]
    }

    /// Forward is exactly relu; the gradient of Σ z·g (g random weights) is g·σ(z/T).
    #[test]
    fn excitation_gradient_is_sigma_exactly() {
        for backend in [BackendKind::Flex, BackendKind::NdArray] {
            let dev = backend.autodiff_device();
            let x = inputs();
            let n = x.len();
            let g: Vec<f32> = (0..n).map(|i| 0.5 + 0.1 * i as f32).collect();
            for sigma in Sigma::ALL {
                for t in [0.05, 0.3, 2.0] {
                    // The routed layer (one custom op on these backends) and the straight-through form.
                    for straight_through in [false, true] {
                        let mode = GradientMode::excitation(sigma, t).unwrap();
                        let z = Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), &dev)
                            .require_grad();
                        let gw = Tensor::<1>::from_data(TensorData::new(g.clone(), [n]), &dev);
                        let y = if straight_through {
                            straight_through_relu(z.clone(), sigma, t)
                        } else {
                            gated_relu(z.clone(), mode)
                        };
                        let yv = tensor_to_vec(y.clone()).unwrap();
                        for (a, b) in yv.iter().zip(&x) {
                            assert_eq!(*a, b.max(0.0), "forward must be relu exactly");
                        }
                        let grads = (y * gw).sum().backward();
                        let dz = tensor_to_vec(z.grad(&grads).unwrap()).unwrap();
                        if straight_through {
                            // Same ops on the same backend: bitwise equal to g·σ(z/T).
                            let zc = Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), &dev);
                            let gw = Tensor::<1>::from_data(TensorData::new(g.clone(), [n]), &dev);
                            let want = tensor_to_vec(sigma.gate(zc, t) * gw).unwrap();
                            assert_eq!(dz, want, "{backend} {sigma} T={t}");
                        }
                        // And against the f64 formula.
                        for i in 0..n {
                            let r = g[i] as f64 * sigma.eval(x[i] as f64 / t);
                            assert!(
                                (dz[i] as f64 - r).abs() <= 1e-6 * (1.0 + r.abs()),
                                "{backend} {sigma} T={t} z={} got {} want {r}",
                                x[i],
                                dz[i]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn vanilla_gradient_is_step_with_zero_at_zero() {
        let dev = BackendKind::Flex.autodiff_device();
        let x = inputs();
        let n = x.len();
        let z = Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), &dev).require_grad();
        let layer = GatedRelu::new(GradientMode::Vanilla);
        let grads = layer.forward(z.clone()).sum().backward();
        let dz = tensor_to_vec(z.grad(&grads).unwrap()).unwrap();
        for (d, v) in dz.iter().zip(&x) {
            assert_eq!(*d, if *v > 0.0 { 1.0 } else { 0.0 }, "at z = {v}");
        }
    }

    /// As T → 0 the gate tends to the step (away from z = 0).
    #[test]
    fn small_temperature_gate_tends_to_step() {
        let dev = BackendKind::Flex.autodiff_device();
        let x: Vec<f32> = vec![-0.5, -0.01, 0.01, 0.5];
        let z = Tensor::<1>::from_data(TensorData::new(x.clone(), [4]), &dev).require_grad();
        let mode = GradientMode::excitation(Sigma::Sigmoid, 1e-4).unwrap();
        let grads = gated_relu(z.clone(), mode).sum().backward();
        let dz = tensor_to_vec(z.grad(&grads).unwrap()).unwrap();
        // σ(±100) = 1 − σ(∓100) ≈ 3.7e−44 from the step.
        for (d, want) in dz.iter().zip([0.0, 0.0, 1.0, 1.0]) {
            assert!((d - want).abs() < 1e-30, "{dz:?}");
        }
    }

    /// `forward_frozen` with the layer's own gate is the ReLU; with another mask it gates by
    /// that mask (values and gradient); a mask of the wrong shape is an error.
    #[test]
    fn frozen_gate_multiplies_by_the_mask() {
        let dev = BackendKind::Flex.autodiff_device();
        let x = inputs();
        let n = x.len();
        let layer = GatedRelu::new(GradientMode::paper());
        let z = Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), &dev).require_grad();
        let own = layer.forward_frozen(z.clone(), layer.gate(&z)).unwrap();
        let want: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
        assert_eq!(tensor_to_vec(own).unwrap(), want);
        let mask: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
        let m = Tensor::<1>::from_data(TensorData::new(mask.clone(), [n]), &dev);
        let y = layer.forward_frozen(z.clone(), m).unwrap();
        let yv = tensor_to_vec(y.clone()).unwrap();
        for i in 0..n {
            assert_eq!(yv[i], x[i] * mask[i]);
        }
        let dz = tensor_to_vec(z.grad(&y.sum().backward()).unwrap()).unwrap();
        assert_eq!(dz, mask);
        let short = Tensor::<1>::from_data(TensorData::new(vec![1.0f32; 3], [3]), &dev);
        let err = layer
            .forward_frozen(z.clone(), short)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[3]") && err.contains("[12]"), "{err}");
        // The excitation factor is σ(z/T); in Vanilla mode it is the gate itself.
        let e = tensor_to_vec(layer.excitation(&z)).unwrap();
        for (g, v) in e.iter().zip(&x) {
            assert!((*g as f64 - Sigma::Sigmoid.eval(*v as f64 / 0.3)).abs() < 1e-6);
        }
        let g = tensor_to_vec(GatedRelu::new(GradientMode::Vanilla).excitation(&z)).unwrap();
        assert_eq!(
            g,
            x.iter()
                .map(|v| if *v > 0.0 { 1.0 } else { 0.0 })
                .collect::<Vec<f32>>()
        );
    }

    /// Without autodiff the layer is a plain ReLU.
    #[test]
    fn untracked_input_is_plain_relu() {
        let dev = BackendKind::Flex.device();
        let x = inputs();
        let n = x.len();
        let z = Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), &dev);
        let y = tensor_to_vec(GatedRelu::new(GradientMode::paper()).forward(z)).unwrap();
        let want: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
        assert_eq!(y, want);
    }

    /// `n` values cycling every `period` through NaN, −0, 0, +∞, −∞ and ordinary values.
    fn edge_values(n: usize, period: usize) -> Vec<f32> {
        (0..n)
            .map(|i| match i % period {
                0 => f32::NAN,
                1 => -0.0,
                2 => 0.0,
                3 => f32::INFINITY,
                4 => f32::NEG_INFINITY,
                _ => (i as f32 * 0.37).sin(),
            })
            .collect()
    }

    /// The vanilla ReLU's gradient (`gate_op::relu` on the CPU backends) equals burn's own
    /// ReLU's bit for bit: `g` where z > 0 or NaN, 0 at z ≤ 0 (−0 and 0 included), ±∞ too, on
    /// flex and ndarray, contiguous and transposed, below and above one parallel task's size.
    #[test]
    fn vanilla_gradient_matches_burns_relu_bit_for_bit() {
        for backend in [BackendKind::Flex, BackendKind::NdArray] {
            let dev = backend.autodiff_device();
            for (rows, cols) in [(3, 5), (97, 411)] {
                let n = rows * cols;
                let zv = edge_values(n, 9);
                let gv: Vec<f32> = (0..n).map(|i| 0.5 + (i % 13) as f32 * 0.1).collect();
                for transposed in [false, true] {
                    let run = |ours: bool| {
                        let z =
                            Tensor::<2>::from_data(TensorData::new(zv.clone(), [rows, cols]), &dev)
                                .require_grad();
                        let w =
                            Tensor::<2>::from_data(TensorData::new(gv.clone(), [rows, cols]), &dev);
                        let (zi, w) = if transposed {
                            (z.clone().transpose(), w.transpose())
                        } else {
                            (z.clone(), w)
                        };
                        let y = if ours {
                            gated_relu(zi, GradientMode::Vanilla)
                        } else {
                            activation::relu(zi)
                        };
                        let value = tensor_to_vec(y.clone()).unwrap();
                        let grads = (y * w).sum().backward();
                        (value, tensor_to_vec(z.grad(&grads).unwrap()).unwrap())
                    };
                    let (ours, burns) = (run(true), run(false));
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    let what = format!("{backend} {rows}x{cols} transposed={transposed}");
                    assert_eq!(bits(&ours.0), bits(&burns.0), "{what}: values");
                    assert_eq!(bits(&ours.1), bits(&burns.1), "{what}: gradients");
                    assert_eq!(ours.1[0], gv[0], "{what}: NaN keeps its gradient");
                    assert_eq!((ours.1[1], ours.1[2]), (0.0, 0.0), "{what}: ±0");
                }
            }
        }
    }

    /// Untracked inputs on the CPU backends take `gate_op::relu` (on flex split over the
    /// threads above one task's elements): bit for bit burn's own ReLU, NaN, ±0 and ±∞
    /// included, on plain and autodiff devices, in every mode.
    #[test]
    fn untracked_relu_matches_burns_bit_for_bit() {
        let devices = [
            BackendKind::Flex.device(),
            BackendKind::Flex.autodiff_device(),
            BackendKind::NdArray.device(),
        ];
        for dev in devices {
            for n in [12, 3 * (1 << 14) + 5] {
                let x = edge_values(n, 7);
                let z = Tensor::<1>::from_data(TensorData::new(x, [n]), &dev);
                let want = tensor_to_vec(activation::relu(z.clone())).unwrap();
                for mode in [GradientMode::Vanilla, GradientMode::paper()] {
                    let got = tensor_to_vec(gated_relu(z.clone(), mode)).unwrap();
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same && got.len() == n, "{dev:?}, n = {n}, {mode:?}");
                }
            }
        }
    }
}
