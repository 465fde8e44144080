//! Pullbacks and projected gradient ascent on the small networks.
//!
//! The Λ-pullback of class `c` at `x` is `v_Λ(x)ᵀ = y_cᵀ M⃗_Λ(x)` (Eq. 6): with
//! [`GateMode::Relu`] it is the input gradient `∇f_c(x)` (`v_G`, Eq. 8); with
//! [`GateMode::Excitation`] it is the excitation pullback `v_Γ` (Sec. 4.2). Ascent follows
//! the reference `PGA` (lib/pga.py): `x ← x + α · v/‖v‖₂`, the change projected onto the
//! L2 ball of radius `ε` around the start and the image clipped to `[-1, 1]`.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::gating::GateMode;
use super::net::GatedNetwork;
use crate::experiment_error::{ExperimentError, ExperimentResult};

/// Settings of projected gradient ascent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AscentConfig {
    /// Step length `α` of each normalised step.
    pub alpha: f64,
    /// Number of steps.
    pub steps: usize,
    /// Radius `ε` of the L2 ball around the start.
    pub eps: f64,
}

fn class_selector(
    classes: &[usize],
    num_classes: usize,
    device: &Device,
) -> ExperimentResult<Tensor<2>> {
    if let Some(&c) = classes.iter().find(|&&c| c >= num_classes) {
        return Err(ExperimentError::Config(format!(
            "class {c} out of range 0..{num_classes}"
        )));
    }
    let labels: Vec<i64> = classes.iter().map(|&c| c as i64).collect();
    Ok(
        Tensor::<1, Int>::from_data(TensorData::new(labels, [classes.len()]), device)
            .one_hot::<2>(num_classes)
            .float(),
    )
}

/// The pullback of logit `classes[i]` at image `i`, for each image of the batch.
///
/// `model` must live on an autodiff device and be in evaluation mode (`valid()` / `freeze()`,
/// so BatchNorm uses its running statistics).
///
/// # Shapes
/// `x`: `[N, C, H, W]`, `classes`: `N` → `[N, C, H, W]`.
pub fn pullback(
    model: &dyn GatedNetwork,
    x: Tensor<4>,
    classes: &[usize],
    mode: GateMode<'_>,
) -> ExperimentResult<Tensor<4>> {
    let device = x.device();
    if !device.is_autodiff() {
        return Err(ExperimentError::Config(
            "pullbacks need an autodiff device".into(),
        ));
    }
    if classes.len() != x.dims()[0] {
        return Err(ExperimentError::Shape(format!(
            "{} classes for a batch of {}",
            classes.len(),
            x.dims()[0]
        )));
    }
    let x = x.detach().require_grad();
    let logits = model.forward_traced(x.clone(), mode)?.logits;
    let sel = class_selector(classes, logits.dims()[1], &device)?;
    let grads = (logits * sel).sum().backward();
    x.grad(&grads)
        .ok_or_else(|| ExperimentError::Config("no gradient reached the input".into()))
}

/// Per-image L2 norm, `[N, 1, 1, 1]`, clamped below by `1e-20`.
fn norms(t: &Tensor<4>) -> Tensor<4> {
    let [n, _, _, _] = t.dims();
    (t.clone() * t.clone())
        .sum_dims(&[1, 2, 3])
        .sqrt()
        .clamp_min(1e-20)
        .reshape([n, 1, 1, 1])
}

/// Projected gradient ascent on logit `classes[i]` of image `i`, following the pullback of
/// `mode`.
///
/// # Shapes
/// `x`: `[N, C, H, W]` in `[-1, 1]` → same.
pub fn ascent(
    model: &dyn GatedNetwork,
    x: Tensor<4>,
    classes: &[usize],
    mode: GateMode<'_>,
    cfg: &AscentConfig,
) -> ExperimentResult<Tensor<4>> {
    let start = x.clone().detach();
    let mut cur = start.clone();
    for _ in 0..cfg.steps {
        let v = pullback(model, cur.clone(), classes, mode)?;
        let step = v.clone() / norms(&v) * cfg.alpha;
        let mut delta = cur.detach() + step - start.clone();
        let factor = (norms(&delta).recip() * cfg.eps).clamp_max(1.0);
        delta = delta * factor;
        cur = (start.clone() + delta).clamp(-1.0, 1.0).detach();
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::small_nets::PlainCnnConfig;
    use burn::module::Module;
    use burn::tensor::Distribution;

    /// `f_c(x) = ⟨v_G(x), x⟩` for a bias-free ReLU network (Eq. 7) is not available here
    /// (convs have biases), so check the pullback by finite differences instead, and that
    /// the excitation pullback differs from the gradient while ascent raises the logit.
    #[test]
    fn gradient_pullback_matches_finite_differences_and_ascent_raises_logit() {
        let dev = Device::flex().autodiff();
        dev.seed(21);
        let cfg = PlainCnnConfig {
            image_size: 8,
            channels: vec![4, 8],
            ..PlainCnnConfig::fashion_mnist(true)
        };
        let net = cfg.init(&dev).unwrap().valid().fork(&dev);
        let x = Tensor::<4>::random([1, 1, 8, 8], Distribution::Uniform(-0.5, 0.5), &dev);
        let v = pullback(&net, x.clone(), &[3], GateMode::Relu)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let logit = |x: Tensor<4>| -> f64 {
            net.forward_traced(x, GateMode::Relu)
                .unwrap()
                .logits
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()[3] as f64
        };
        let base = x.clone().into_data().try_to_vec::<f32>().unwrap();
        for &i in &[0usize, 17, 40, 63] {
            let h = 1e-2f32;
            let mut p = base.clone();
            p[i] += h;
            let mut m = base.clone();
            m[i] -= h;
            let t = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 1, 8, 8]), &dev);
            let fd = (logit(t(p)) - logit(t(m))) / (2.0 * h as f64);
            assert!(
                (fd - v[i] as f64).abs() < 2e-2 * (1.0 + fd.abs()),
                "pixel {i}: fd {fd} vs {}",
                v[i]
            );
        }
        let e = pullback(
            &net,
            x.clone(),
            &[3],
            GateMode::Excitation { temperature: 0.3 },
        )
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
        assert!(e.iter().zip(&v).any(|(a, b)| (a - b).abs() > 1e-4));
        let before = logit(x.clone());
        let y = ascent(
            &net,
            x.clone(),
            &[3],
            GateMode::Excitation { temperature: 0.3 },
            &AscentConfig {
                alpha: 0.5,
                steps: 5,
                eps: 3.0,
            },
        )
        .unwrap();
        assert!(logit(y.clone()) > before);
        let d = (y - x)
            .powf_scalar(2.0)
            .sum()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()[0]
            .sqrt();
        assert!(d <= 3.0 + 1e-4, "left the ε-ball: {d}");
    }
}
