//! Gated max-pool: forward hard max-pool, backward of softmax pooling at temperature T
//! (paper Listing 2, `SurrogateSoftMaxPool2d`).
//!
//! Soft pooling of a window W is `Σ_{i∈W} x_i · softmax(x_W / T)_i`. Its windows are taken
//! exactly as PyTorch's `F.unfold` takes them: with **zero** padding, so padded zeros enter
//! the softmax (they receive no gradient). The layer is straight-through,
//!
//! `hard.detach() + (soft − soft.detach())`,
//!
//! so its value is the hard max-pool (padding never wins: hard pooling pads with −∞) and its
//! gradient is that of the soft pool: ∂soft/∂x_i = w_i (1 + (x_i − soft)/T) for x_i in the window.
//! In [`GradientMode::Vanilla`] it is a plain max-pool, whose gradient goes to the first maximum
//! of each window on exact ties (as PyTorch's); the soft gradient splits ties evenly.
//! Only dilation 1 and `ceil_mode = false` are supported (all torchvision CNNs used here).

use burn::module::Module;
use burn::tensor::{
    activation, module::max_pool2d, ops::MaxPoolOptions, ops::PadMode, s, Int, Tensor,
};

use crate::error::{Error, Result};
use crate::gate::GradientMode;
use crate::pool_op;

/// Configuration of a [`GatedMaxPool2d`] (square kernel, as `nn.MaxPool2d(k, stride, padding)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatedMaxPool2dConfig {
    /// Kernel size k (k × k windows).
    pub kernel_size: usize,
    /// Stride (torchvision's default is the kernel size).
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

impl GatedMaxPool2dConfig {
    /// `nn.MaxPool2d(kernel_size)`: stride = kernel size, no padding.
    pub fn new(kernel_size: usize) -> Self {
        Self {
            kernel_size,
            stride: kernel_size,
            padding: 0,
        }
    }

    /// Sets the stride.
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the padding.
    pub fn with_padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// The layer, following `mode`.
    ///
    /// # Panics
    /// If kernel or stride is zero or padding exceeds half the kernel (PyTorch's own rule).
    #[track_caller]
    pub fn init(&self, mode: GradientMode) -> GatedMaxPool2d {
        assert!(
            self.kernel_size > 0 && self.stride > 0,
            "kernel and stride must be > 0"
        );
        assert!(
            2 * self.padding <= self.kernel_size,
            "padding {} must be at most half the kernel size {}",
            self.padding,
            self.kernel_size
        );
        GatedMaxPool2d {
            kernel_size: self.kernel_size,
            stride: self.stride,
            padding: self.padding,
            mode,
        }
    }
}

/// Max-pool whose backward pass follows a [`GradientMode`] (torchvision's `nn.MaxPool2d` slot).
#[derive(Module, Debug)]
pub struct GatedMaxPool2d {
    /// Kernel size k.
    pub kernel_size: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on every side.
    pub padding: usize,
    /// How the gradient flows backwards.
    #[module(skip)]
    pub mode: GradientMode,
}

impl GatedMaxPool2d {
    /// Output spatial size for an input of `h × w`, or `None` if the input is smaller than a
    /// window.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        pooled_size(h, w, self.kernel_size, self.stride, self.padding)
    }

    /// Hard max-pool forward; gradient per [`GradientMode`].
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, h, w]`
    /// - output: `[batch, channels, (h + 2p − k)/s + 1, (w + 2p − k)/s + 1]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (k, s, p) = (self.kernel_size, self.stride, self.padding);
        match self.mode {
            GradientMode::Excitation { temperature, .. } if x.is_tracked() => {
                // An input smaller than one window goes to the tensor form, which names the
                // problem in its panic.
                let [_, _, h, w] = x.dims();
                if pool_op::supported(&x) && self.output_size(h, w).is_some() {
                    pool_op::excitation_max_pool2d(x, k, s, p, temperature)
                } else {
                    straight_through_max_pool2d(x, k, s, p, temperature)
                }
            }
            _ => hard_max_pool2d(x, k, s, p),
        }
    }
}

/// Hard max-pool whose gradient is softmax pooling's at `temperature`, from tensor operations
/// that every backend with autodiff has: `hard + (linear − linear.detach())`, where `linear`
/// applies the soft pool's Jacobian as constant per-window coefficients (the same gradient as
/// differentiating through the softmax, half the tracked work). On flex the layer uses the
/// equivalent single operation [`crate::pool_op`] instead.
///
/// # Shapes
/// - `x`: `[batch, channels, h, w]`; output `[batch, channels, h', w']` as for the layer.
///
/// # Panics
/// If the padded input is smaller than one window.
#[track_caller]
pub fn straight_through_max_pool2d(
    x: Tensor<4>,
    kernel_size: usize,
    stride: usize,
    padding: usize,
    temperature: f64,
) -> Tensor<4> {
    let (k, s, p) = (kernel_size, stride, padding);
    let hard = hard_max_pool2d(x.clone().detach(), k, s, p);
    let windows = window_stack(x, k, s, p);
    let coefficients = soft_pool_coefficients(windows.clone().detach(), temperature);
    let linear: Tensor<4> = (windows * coefficients).sum_dim(2).squeeze_dim(2);
    hard + (linear.clone() - linear.detach())
}

/// Gates of a max-pool whose windows tile its input (stride = kernel size, no padding):
/// then `maxpool(x) = sumpool(m ⊙ x)` with `m` the one-hot mask of each window's arg-max, so
/// the pool is a gating of its input followed by a fixed linear map (the structural
/// similarity of Sec. 6.3), and its excitation counterpart is the softmax weight
/// `softmax(x_W / T)` of each window (Listing 2).
impl GatedMaxPool2d {
    /// `[N, C, H, W]` → `[N, C, H/k, W/k, k·k]`, the entries of each window last (row-major
    /// within the window). Errors unless the windows tile the input exactly.
    fn windows(&self, x: Tensor<4>) -> Result<Tensor<5>> {
        let k = self.kernel_size;
        let [n, c, h, w] = x.dims();
        if self.stride != k || self.padding != 0 {
            return Err(Error::Config(format!(
                "explicit max-pool gates need non-overlapping windows (stride = kernel, no padding); \
                 this pool has kernel {k}, stride {}, padding {}",
                self.stride, self.padding
            )));
        }
        if h % k != 0 || w % k != 0 || h == 0 || w == 0 {
            return Err(Error::InvalidShape {
                what: "max-pool input",
                found: x.dims().to_vec(),
                expected: format!(
                    "[N, C, H, W] with H and W positive multiples of the kernel size {k}"
                ),
            });
        }
        Ok(x.reshape([n, c, h / k, k, w / k, k])
            .permute([0, 1, 2, 4, 3, 5])
            .reshape([n, c, h / k, w / k, k * k]))
    }

    /// Inverse of `windows`.
    fn unwindows(&self, x: Tensor<5>) -> Tensor<4> {
        let k = self.kernel_size;
        let [n, c, hk, wk, _] = x.dims();
        x.reshape([n, c, hk, wk, k, k])
            .permute([0, 1, 2, 4, 3, 5])
            .reshape([n, c, hk * k, wk * k])
    }

    /// The gate of this pool at `x`: the one-hot mask of each window's arg-max (the first
    /// maximum on ties, as PyTorch's max-pool routes its gradient).
    ///
    /// # Shapes
    /// - `x`: `[N, C, H, W]`, `H` and `W` multiples of the kernel; output: same, entries in {0, 1}.
    pub fn gate(&self, x: &Tensor<4>) -> Result<Tensor<4>> {
        let win = self.windows(x.clone().detach())?;
        let [n, c, h, w, kk] = win.dims();
        let idx = win.argmax(4).expand([n, c, h, w, kk]);
        let lanes = Tensor::<1, Int>::arange(0..kk as i64, &x.device())
            .reshape([1, 1, 1, 1, kk])
            .expand([n, c, h, w, kk]);
        Ok(self.unwindows(idx.equal(lanes).float()))
    }

    /// The softmax weights `softmax(x_W / T)` of each window: this pool's factor of the
    /// excitation tensor `Γ̃` at temperature `T` (its `T → 0` limit is [`GatedMaxPool2d::gate`]
    /// away from ties).
    ///
    /// # Shapes
    /// - `x`: `[N, C, H, W]`, `H` and `W` multiples of the kernel; output: same.
    pub fn soft_weights(&self, x: &Tensor<4>, temperature: f64) -> Result<Tensor<4>> {
        let win = self.windows(x.clone())?;
        Ok(self.unwindows(activation::softmax(win.div_scalar(temperature), 4)))
    }

    /// The forward pass with the gate frozen to `mask` instead of the arg-max of `x`: the
    /// sum over each window of `x ⊙ mask` (the π-induced network `f_π`, Sec. 5.1). With
    /// `mask = self.gate(x)` it is the max-pool itself.
    ///
    /// # Shapes
    /// - `x`, `mask`: `[N, C, H, W]`, `H` and `W` multiples of the kernel; output
    ///   `[N, C, H/k, W/k]`.
    pub fn forward_frozen(&self, x: Tensor<4>, mask: Tensor<4>) -> Result<Tensor<4>> {
        if x.dims() != mask.dims() {
            return Err(Error::InvalidShape {
                what: "frozen max-pool gate",
                found: mask.dims().to_vec(),
                expected: format!("the shape of the pool's input, {:?}", x.dims()),
            });
        }
        Ok(self.windows(x * mask)?.sum_dim(4).squeeze_dim(4))
    }
}

fn pooled_size(h: usize, w: usize, k: usize, s: usize, p: usize) -> Option<(usize, usize)> {
    if h + 2 * p < k || w + 2 * p < k {
        return None;
    }
    Some(((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1))
}

/// PyTorch's `F.max_pool2d(x, k, s, p)` (implicit −∞ padding, floor mode): on flex
/// ([`pool_op::supported`]) one operation of [`crate::pool_op`], elsewhere burn's `max_pool2d`
/// (same values and gradients).
///
/// # Shapes
/// - `x`: `[batch, channels, h, w]`; output `[batch, channels, h', w']` as for the layer.
pub fn hard_max_pool2d(
    x: Tensor<4>,
    kernel_size: usize,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let fits = pooled_size(h, w, kernel_size, stride, padding).is_some();
    if fits && pool_op::supported(&x) {
        return pool_op::hard_max_pool2d(x, kernel_size, stride, padding);
    }
    max_pool2d(
        x,
        MaxPoolOptions::new([kernel_size, kernel_size])
            .with_stride([stride, stride])
            .with_padding([padding, padding]),
    )
}

/// Softmax pooling at temperature T over `F.unfold` windows (zero padding included):
/// `Σ_{i∈W} x_i softmax(x_W/T)_i` (paper Listing 2, `SoftMaxPool2d.forward`).
///
/// # Shapes
/// - `x`: `[batch, channels, h, w]`; output `[batch, channels, h', w']` as for the layer.
///
/// # Panics
/// If the padded input is smaller than one window.
#[track_caller]
pub fn soft_max_pool2d(
    x: Tensor<4>,
    kernel_size: usize,
    stride: usize,
    padding: usize,
    temperature: f64,
) -> Tensor<4> {
    let stacked = window_stack(x, kernel_size, stride, padding);
    let weights = activation::softmax(stacked.clone().div_scalar(temperature), 2);
    (stacked * weights).sum_dim(2).squeeze_dim::<4>(2)
}

/// The `F.unfold` windows of `x` stacked on a new axis 2 (zero padding included).
///
/// # Shapes
/// - `x`: `[batch, channels, h, w]`; output `[batch, channels, k·k, h', w']`.
///
/// # Panics
/// If the padded input is smaller than one window.
#[track_caller]
fn window_stack(x: Tensor<4>, kernel_size: usize, stride: usize, padding: usize) -> Tensor<5> {
    let [_, _, h, w] = x.dims();
    let (k, st, p) = (kernel_size, stride, padding);
    let (oh, ow) = pooled_size(h, w, k, st, p).unwrap_or_else(|| {
        panic!("input {h}×{w} (padding {p}) is smaller than the {k}×{k} window")
    });
    // Zero padding, like F.unfold. (Never −∞: ∞·0 would be NaN in the weighted sum.)
    let xp = if p > 0 {
        x.pad([(p, p), (p, p)], PadMode::Constant(0.0))
    } else {
        x
    };
    let mut windows = Vec::with_capacity(k * k);
    for a in 0..k {
        for b in 0..k {
            windows.push(xp.clone().slice(s![
                ..,
                ..,
                a..a + st * (oh - 1) + 1; st,
                b..b + st * (ow - 1) + 1; st
            ]));
        }
    }
    Tensor::stack(windows, 2)
}

/// ∂soft/∂x_i = w_i (1 + (x_i − soft)/T) for every entry x_i of every window, with
/// w = softmax(x_W / T) and soft = Σ_i w_i x_i: the soft pool's Jacobian, one coefficient
/// per window entry (an entry shared by overlapping windows collects one per window).
///
/// # Shapes
/// - `windows`: `[batch, channels, k·k, h', w']` (no autodiff graph needed); output: same.
fn soft_pool_coefficients(windows: Tensor<5>, temperature: f64) -> Tensor<5> {
    let weights = activation::softmax(windows.clone().div_scalar(temperature), 2);
    let soft = (windows.clone() * weights.clone()).sum_dim(2);
    weights * ((windows - soft).div_scalar(temperature).add_scalar(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::gate::Sigma;
    use burn::tensor::TensorData;

    /// Deterministic pseudo-random values in [-1, 1) (LCG, seeded).
    fn values(n: usize, seed: u64) -> Vec<f32> {
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

    /// f64 reference: F.unfold windows with zero padding; returns (soft output, d(Σ g·soft)/dx,
    /// hard output) for x of shape [c, h, w] (batch 1).
    #[allow(clippy::type_complexity)]
    fn reference(
        x: &[f32],
        g: &[f32],
        (c, h, w): (usize, usize, usize),
        (k, s, p): (usize, usize, usize),
        t: f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (oh, ow) = pooled_size(h, w, k, s, p).unwrap();
        let mut soft = vec![0.0; c * oh * ow];
        let mut hard = vec![0.0; c * oh * ow];
        let mut grad = vec![0.0; c * h * w];
        for ch in 0..c {
            for i in 0..oh {
                for j in 0..ow {
                    // window entries: (value, Some(flat index) or None for padding)
                    let mut win = Vec::new();
                    for a in 0..k {
                        for b in 0..k {
                            let r = (i * s + a) as isize - p as isize;
                            let q = (j * s + b) as isize - p as isize;
                            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                let idx = ch * h * w + r as usize * w + q as usize;
                                win.push((x[idx] as f64, Some(idx)));
                            } else {
                                win.push((0.0, None));
                            }
                        }
                    }
                    let m = win.iter().map(|v| v.0).fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = win.iter().map(|v| ((v.0 - m) / t).exp()).sum();
                    let o: f64 = win.iter().map(|v| v.0 * ((v.0 - m) / t).exp() / z).sum();
                    let out = ch * oh * ow + i * ow + j;
                    soft[out] = o;
                    hard[out] = win
                        .iter()
                        .filter(|v| v.1.is_some())
                        .map(|v| v.0)
                        .fold(f64::NEG_INFINITY, f64::max);
                    for (v, idx) in &win {
                        if let Some(idx) = idx {
                            let wi = ((v - m) / t).exp() / z;
                            grad[*idx] += g[out] as f64 * wi * (1.0 + (v - o) / t);
                        }
                    }
                }
            }
        }
        (soft, grad, hard)
    }

    fn check_against_reference(
        backend: BackendKind,
        shape: (usize, usize, usize),
        ksp: (usize, usize, usize),
        t: f64,
    ) {
        let dev = backend.autodiff_device();
        let (c, h, w) = shape;
        let (k, s, p) = ksp;
        let x = values(c * h * w, 7 + h as u64);
        let (oh, ow) = pooled_size(h, w, k, s, p).unwrap();
        let g = values(c * oh * ow, 99);
        let (soft_ref, grad_ref, hard_ref) = reference(&x, &g, shape, ksp, t);

        let layer = GatedMaxPool2dConfig::new(k)
            .with_stride(s)
            .with_padding(p)
            .init(GradientMode::excitation(Sigma::Sigmoid, t).unwrap());
        let xt =
            Tensor::<4>::from_data(TensorData::new(x.clone(), [1, c, h, w]), &dev).require_grad();
        let gt = Tensor::<4>::from_data(TensorData::new(g.clone(), [1, c, oh, ow]), &dev);
        let y = layer.forward(xt.clone());
        assert_eq!(y.dims(), [1, c, oh, ow]);
        let yv = tensor_to_vec(y.clone()).unwrap();
        for (a, b) in yv.iter().zip(&hard_ref) {
            assert!(
                (*a as f64 - b).abs() < 1e-6,
                "forward must be the hard max-pool"
            );
        }
        let soft = tensor_to_vec(soft_max_pool2d(
            Tensor::<4>::from_data(TensorData::new(x.clone(), [1, c, h, w]), &dev),
            k,
            s,
            p,
            t,
        ))
        .unwrap();
        for (a, b) in soft.iter().zip(&soft_ref) {
            assert!((*a as f64 - b).abs() < 1e-5, "soft pool {a} vs {b}");
        }
        let grads = (y * gt).sum().backward();
        let dx = tensor_to_vec(xt.grad(&grads).unwrap()).unwrap();
        let scale = grad_ref.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1.0);
        for (i, (a, b)) in dx.iter().zip(&grad_ref).enumerate() {
            assert!(
                (*a as f64 - b).abs() < 3e-5 * scale,
                "{backend} k{k} s{s} p{p} T={t}: grad[{i}] = {a}, exact {b}"
            );
        }
    }

    #[test]
    fn soft_gradient_matches_exact_formula() {
        // torchvision's pools: ResNet/DenseNet 3×3 s2 p1, VGG 2×2 s2; plus an odd size.
        for t in [0.3, 1.0, 0.05] {
            check_against_reference(BackendKind::Flex, (2, 7, 6), (3, 2, 1), t);
            check_against_reference(BackendKind::Flex, (3, 6, 8), (2, 2, 0), t);
        }
        check_against_reference(BackendKind::NdArray, (2, 7, 6), (3, 2, 1), 0.3);
        check_against_reference(BackendKind::Flex, (1, 5, 5), (3, 1, 1), 0.7);
    }

    /// All-negative input: the padded zeros dominate the soft pool near the border, so the soft
    /// value there is close to 0 while the hard max ignores the padding.
    #[test]
    fn padded_zeros_enter_the_softmax() {
        let dev = BackendKind::Flex.device();
        let x: Vec<f32> = vec![-1.0; 16];
        let xt = Tensor::<4>::from_data(TensorData::new(x, [1, 1, 4, 4]), &dev);
        let soft = tensor_to_vec(soft_max_pool2d(xt.clone(), 3, 2, 1, 0.1)).unwrap();
        let hard = tensor_to_vec(hard_max_pool2d(xt, 3, 2, 1)).unwrap();
        assert_eq!(hard, vec![-1.0; 4]);
        // Window at (0,0) holds 5 padded zeros and 4 values −1:
        let e = (-10.0f64).exp();
        let want = (4.0 * -e) / (5.0 + 4.0 * e);
        assert!(
            (soft[0] as f64 - want).abs() < 1e-6,
            "{} vs {want}",
            soft[0]
        );
    }

    /// Exact ties: vanilla gradient goes wholly to the first maximum (PyTorch), the soft one is
    /// split evenly.
    #[test]
    fn ties_first_max_hard_split_soft() {
        for backend in [BackendKind::Flex, BackendKind::NdArray] {
            let dev = backend.autodiff_device();
            let x: Vec<f32> = vec![0.5, 0.5, 0.5, 0.5];
            let make = || {
                Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 1, 2, 2]), &dev)
                    .require_grad()
            };
            let xt = make();
            let layer = GatedMaxPool2dConfig::new(2).init(GradientMode::Vanilla);
            let grads = layer.forward(xt.clone()).sum().backward();
            let dx = tensor_to_vec(xt.grad(&grads).unwrap()).unwrap();
            assert_eq!(dx, vec![1.0, 0.0, 0.0, 0.0], "{backend}");

            let xt = make();
            let layer = GatedMaxPool2dConfig::new(2).init(GradientMode::paper());
            let grads = layer.forward(xt.clone()).sum().backward();
            let dx = tensor_to_vec(xt.grad(&grads).unwrap()).unwrap();
            for d in dx {
                assert!((d - 0.25).abs() < 1e-6, "{backend}: {d}");
            }
        }
    }

    /// The explicit gate of a tiling pool is the one-hot first arg-max; the frozen forward
    /// with it is the max-pool; with another input's gate it picks that input's positions;
    /// the soft weights sum to one per window; overlapping windows and odd sizes are errors.
    #[test]
    fn explicit_gates_of_a_tiling_pool() {
        let dev = BackendKind::Flex.device();
        let t4 = |v: Vec<f32>, s: [usize; 4]| Tensor::<4>::from_data(TensorData::new(v, s), &dev);
        let pool = GatedMaxPool2dConfig::new(2).init(GradientMode::paper());
        // One 2×4 channel: windows [1, 5 / 2, 0] and [0, 0 / 0, 0] (a tie: first wins).
        let x = t4(vec![1., 5., 0., 0., 2., 0., 0., 0.], [1, 1, 2, 4]);
        let m = pool.gate(&x).unwrap();
        assert_eq!(
            tensor_to_vec(m.clone()).unwrap(),
            vec![0., 1., 1., 0., 0., 0., 0., 0.]
        );
        assert_eq!(
            tensor_to_vec(pool.forward_frozen(x.clone(), m).unwrap()).unwrap(),
            vec![5., 0.]
        );
        assert_eq!(
            tensor_to_vec(pool.forward(x.clone())).unwrap(),
            vec![5., 0.]
        );
        let other = t4(vec![9., 0., 0., 0., 0., 0., 0., 1.], [1, 1, 2, 4]);
        let frozen = pool
            .forward_frozen(x.clone(), pool.gate(&other).unwrap())
            .unwrap();
        assert_eq!(tensor_to_vec(frozen).unwrap(), vec![1., 0.]);
        // Random input, 3×3 windows: frozen own gates = max-pool; soft weights per window sum to 1.
        let v = values(2 * 6 * 9, 5);
        let x = t4(v, [1, 2, 6, 9]);
        let p3 = GatedMaxPool2dConfig::new(3).init(GradientMode::Vanilla);
        let a = tensor_to_vec(p3.forward(x.clone())).unwrap();
        let b = tensor_to_vec(p3.forward_frozen(x.clone(), p3.gate(&x).unwrap()).unwrap()).unwrap();
        assert_eq!(a, b);
        let w = p3.soft_weights(&x, 0.3).unwrap();
        let per_window = tensor_to_vec(p3.forward_frozen(x.ones_like(), w).unwrap()).unwrap();
        assert_eq!(per_window.len(), 2 * 2 * 3);
        assert!(
            per_window.iter().all(|s| (s - 1.0).abs() < 1e-6),
            "{per_window:?}"
        );
        // Errors, not panics.
        let overlapping = GatedMaxPool2dConfig::new(3)
            .with_stride(2)
            .with_padding(1)
            .init(GradientMode::Vanilla);
        assert!(overlapping
            .gate(&x)
            .unwrap_err()
            .to_string()
            .contains("non-overlapping"));
        assert!(pool.gate(&t4(vec![0.; 9], [1, 1, 3, 3])).is_err());
        let e = pool
            .forward_frozen(x.clone(), t4(vec![0.; 4], [1, 1, 2, 2]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[1, 1, 2, 2]"), "{e}");
    }

    /// Large values and tiny temperatures give finite values and gradients.
    #[test]
    fn large_inputs_stay_finite() {
        let dev = BackendKind::Flex.autodiff_device();
        let x: Vec<f32> = vec![1e4, -1e4, 3e3, 0.0, 5.0, 1e4, -2.0, 7.0, 1e-3];
        let xt = Tensor::<4>::from_data(TensorData::new(x, [1, 1, 3, 3]), &dev).require_grad();
        let layer = GatedMaxPool2dConfig::new(3)
            .with_stride(2)
            .with_padding(1)
            .init(GradientMode::excitation(Sigma::Sigmoid, 1e-3).unwrap());
        let y = layer.forward(xt.clone());
        let grads = y.clone().sum().backward();
        let dx = tensor_to_vec(xt.grad(&grads).unwrap()).unwrap();
        assert!(tensor_to_vec(y).unwrap().iter().all(|v| v.is_finite()));
        assert!(dx.iter().all(|v| v.is_finite()), "{dx:?}");
    }
}
