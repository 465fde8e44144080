//! Projected gradient ascent along the (excitation) pullback, exactly as the paper's
//! `lib/pga.py` (`PGA`, targeted mode), which produces the paper's counterfactual images.
//!
//! One step from the current iterate x_k (x_0 the original image x):
//! 1. g = ∇ₓ L(x_k) with the model's gradient modes (excitation pullback when gated), where
//!    L = Σ target logits (default), −CE(logits, target) (mean over the batch) or ½‖logits‖²
//!    ("self-explain");
//! 2. g ← α · g / max(‖g‖₂, 1e−20) per image (× max(‖x_k‖₂, 1e−20) with `relative_alpha`);
//! 3. x ← x_k + g; δ = x − x_0; δ ← δ · min(ε / max(‖δ‖₂, 1e−20), 1) (L2 ball of radius ε);
//! 4. x_{k+1} = clamp(x_0 + δ, −1, 1).
//!
//! A zero gradient gives a zero step, never NaN. Every iterate is returned, so that runs can be
//! compared one step at a time (α = 20 is chaotic in f32 on some weights). Defaults are the
//! paper's: T = 0.3 (set on the model), α = 20, ε = 100, 10 steps.

use burn::tensor::{activation, Device, Tensor, TensorData};

use crate::classifier::Classifier;
use crate::error::{Error, Result};

/// The quantity the ascent increases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AscentObjective {
    /// Σ over the batch of the target logits (the paper's default).
    #[default]
    TargetLogit,
    /// −cross-entropy(logits, target), averaged over the batch (`use_cross_entropy_loss`).
    CrossEntropy,
    /// ½ Σ logits² (`self_explain`; targets are ignored).
    SelfExplain,
}

/// Options of [`ascent`], defaults as `PGA(model, alpha=20, steps=10, eps=100)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AscentConfig {
    /// Step length α (each step has L2 norm α before projection).
    pub alpha: f64,
    /// Radius ε of the L2 ball around the original image; `None` for no projection.
    pub eps: Option<f64>,
    /// Number of steps.
    pub steps: usize,
    /// Objective.
    pub objective: AscentObjective,
    /// Scale each step by the current image's norm (`relative_alpha`).
    pub relative_alpha: bool,
    /// Pixel range the iterates are clamped to.
    pub clip: (f64, f64),
    /// Lower bound of norms in divisions (1e−20).
    pub eps_for_division: f64,
}

impl Default for AscentConfig {
    fn default() -> Self {
        Self {
            alpha: 20.0,
            eps: Some(100.0),
            steps: 10,
            objective: AscentObjective::TargetLogit,
            relative_alpha: false,
            clip: (-1.0, 1.0),
            eps_for_division: 1e-20,
        }
    }
}

impl AscentConfig {
    fn validate(&self) -> Result<()> {
        let ok = self.alpha.is_finite()
            && self.alpha >= 0.0
            && self.eps.is_none_or(|e| e.is_finite() && e >= 0.0)
            && self.clip.0.is_finite()
            && self.clip.1.is_finite()
            && self.clip.0 <= self.clip.1
            && self.eps_for_division > 0.0;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidOption(format!(
                "ascent needs finite α ≥ 0, ε ≥ 0 (or none), clip min ≤ max and a positive \
                 division floor, got {self:?}"
            )))
        }
    }
}

/// Result of an ascent.
#[derive(Debug, Clone)]
pub struct Ascent {
    /// x_0 (the input), x_1, …, x_steps, on the plain (non-autodiff) device.
    ///
    /// # Shapes
    /// each `[batch, 3, h, w]`
    pub iterates: Vec<Tensor<4>>,
    /// The scaled step α·g/‖g‖ of the last step (`pga.py` returns it as `grad`).
    pub last_step: Option<Tensor<4>>,
}

impl Ascent {
    /// The final image x_steps.
    pub fn last(&self) -> &Tensor<4> {
        self.iterates.last().expect("an ascent always holds x_0")
    }
}

/// Runs the paper's projected gradient ascent towards `targets` (one class per image).
///
/// The model's own gradient modes are used: set them first (e.g. `GradientMode::paper()`).
/// `device` is the autodiff device the backward passes run on.
///
/// # Shapes
/// - `images`: `[batch, 3, h, w]` in [−1, 1]; every iterate has the same shape.
pub fn ascent<M: Classifier>(
    model: &M,
    images: Tensor<4>,
    targets: &[usize],
    config: &AscentConfig,
    device: &Device,
) -> Result<Ascent> {
    check(model, &images, targets, config)?;
    let plain = images.clone().without_autodiff().device();
    let original = images.without_autodiff().detach();
    let mut iterates = vec![original.clone()];
    let mut last_step = None;
    for _ in 0..config.steps {
        let current = iterates.last().cloned().unwrap_or_else(|| original.clone());
        let (next, step) = step_unchecked(model, &original, current, targets, config, device)?;
        iterates.push(next.to_device(&plain));
        last_step = Some(step.to_device(&plain));
    }
    Ok(Ascent {
        iterates,
        last_step,
    })
}

/// One ascent step from `current` (any iterate) with the ball centred at `original`;
/// returns (x_{k+1}, scaled step). Lets a test replay a saved run one step at a time.
///
/// # Shapes
/// - `original`, `current`: `[batch, 3, h, w]`; both outputs the same.
pub fn ascent_step<M: Classifier>(
    model: &M,
    original: Tensor<4>,
    current: Tensor<4>,
    targets: &[usize],
    config: &AscentConfig,
    device: &Device,
) -> Result<(Tensor<4>, Tensor<4>)> {
    check(model, &original, targets, config)?;
    if current.dims() != original.dims() {
        return Err(Error::InvalidShape {
            what: "current iterate",
            found: current.dims().to_vec(),
            expected: format!("the original's shape {:?}", original.dims()),
        });
    }
    let plain = original.clone().without_autodiff().device();
    let (next, step) = step_unchecked(
        model,
        &original.without_autodiff(),
        current.without_autodiff(),
        targets,
        config,
        device,
    )?;
    Ok((next.to_device(&plain), step.to_device(&plain)))
}

fn check<M: Classifier>(
    model: &M,
    images: &Tensor<4>,
    targets: &[usize],
    config: &AscentConfig,
) -> Result<()> {
    config.validate()?;
    model.check_images(images.dims())?;
    let batch = images.dims()[0];
    if config.objective != AscentObjective::SelfExplain && targets.len() != batch {
        return Err(Error::InvalidOption(format!(
            "{} target classes given for {batch} images; give one per image",
            targets.len()
        )));
    }
    if let Some(&class) = targets.iter().find(|&&c| c >= model.num_classes()) {
        return Err(Error::InvalidClass {
            class,
            num_classes: model.num_classes(),
        });
    }
    Ok(())
}

/// Per-image L2 norm, clamped below: `[b, c, h, w]` → `[b, 1, 1, 1]`.
fn norms(x: Tensor<4>, floor: f64) -> Tensor<4> {
    x.powi_scalar(2)
        .sum_dims(&[1, 2, 3])
        .sqrt()
        .clamp_min(floor)
}

fn step_unchecked<M: Classifier>(
    model: &M,
    original: &Tensor<4>,
    current: Tensor<4>,
    targets: &[usize],
    config: &AscentConfig,
    device: &Device,
) -> Result<(Tensor<4>, Tensor<4>)> {
    let _awake = crate::awake::keep_workers_awake(); // see pullback::pullback
    let ad = device.clone().autodiff();
    let x = current
        .without_autodiff()
        .to_device(&ad)
        .autodiff()
        .require_grad();
    let logits = model.forward(x.clone());
    let [b, n] = logits.dims();
    let loss = match config.objective {
        AscentObjective::TargetLogit => (logits * one_hot(targets, n, &ad)).sum(),
        AscentObjective::CrossEntropy => {
            // −CE = mean over the batch of log softmax at the target.
            let logp = activation::log_softmax(logits, 1);
            (logp * one_hot(targets, n, &ad)).sum().div_scalar(b as f64)
        }
        AscentObjective::SelfExplain => logits.powi_scalar(2).sum().mul_scalar(0.5),
    };
    let grads = loss.backward();
    let g = x
        .grad(&grads)
        .ok_or_else(|| Error::TensorRead("no gradient reached the input".into()))?;
    let x = x.detach().without_autodiff();
    let original = original.clone().without_autodiff().to_device(&x.device());
    let g = g.without_autodiff();
    let floor = config.eps_for_division;
    let mut step = g.clone() / norms(g, floor);
    if config.relative_alpha {
        step = step * norms(x.clone(), floor);
    }
    let step = step.mul_scalar(config.alpha);
    let mut next = x + step.clone();
    if let Some(eps) = config.eps {
        let delta = next - original.clone();
        let factor = norms(delta.clone(), floor)
            .recip()
            .mul_scalar(eps)
            .clamp_max(1.0);
        next = original + delta * factor;
    }
    let next = next.clamp(config.clip.0, config.clip.1);
    Ok((next, step))
}

fn one_hot(targets: &[usize], num_classes: usize, device: &Device) -> Tensor<2> {
    let mut m = vec![0f32; targets.len() * num_classes];
    for (r, c) in targets.iter().enumerate() {
        m[r * num_classes + c] = 1.0;
    }
    Tensor::from_data(TensorData::new(m, [targets.len(), num_classes]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::gate::{Gated, GradientMode};
    use crate::pullback::{pullback, Targets};
    use crate::resnet::{BlockKind, ResNet, ResNetConfig};
    use crate::testing::{fill, images};
    use crate::weights::{load_state_dict, state_dict};

    fn tiny(seed: u64) -> ResNet {
        let dev = BackendKind::Flex.device();
        let mut m = ResNetConfig::tiny(BlockKind::Basic)
            .init(&dev, GradientMode::paper())
            .unwrap();
        fill(&mut m, seed);
        m
    }

    fn l2(v: &[f32]) -> f64 {
        v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
    }

    /// One step recomputed in f64 from the pullback: x₁ = clamp(x₀ + proj(α g/‖g‖)).
    #[test]
    fn one_step_matches_the_formula() {
        let dev = BackendKind::Flex.device();
        let ad = BackendKind::Flex.autodiff_device();
        let m = tiny(1);
        let x0 = images(2, 16, 16, 3, &dev);
        let targets = [4, 7];
        for (alpha, eps) in [(20.0, Some(100.0)), (3.0, Some(1.5)), (0.5, None)] {
            let cfg = AscentConfig {
                alpha,
                eps,
                steps: 1,
                ..Default::default()
            };
            let run = ascent(&m, x0.clone(), &targets, &cfg, &ad).unwrap();
            let x1 = tensor_to_vec(run.iterates[1].clone()).unwrap();
            let g = tensor_to_vec(
                pullback(&m, x0.clone(), &Targets::PerImage(targets.to_vec()), 2, &ad)
                    .unwrap()
                    .gradients,
            )
            .unwrap();
            let x = tensor_to_vec(x0.clone()).unwrap();
            let n = g.len() / 2;
            for i in 0..2 {
                let gi = &g[i * n..(i + 1) * n];
                let norm = l2(gi).max(1e-20);
                let mut delta: Vec<f64> = gi.iter().map(|v| alpha * *v as f64 / norm).collect();
                if let Some(eps) = eps {
                    let dn = delta.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-20);
                    let f = (eps / dn).min(1.0);
                    delta.iter_mut().for_each(|v| *v *= f);
                }
                for j in 0..n {
                    let want = (x[i * n + j] as f64 + delta[j]).clamp(-1.0, 1.0);
                    assert!(
                        (x1[i * n + j] as f64 - want).abs() < 1e-5,
                        "α {alpha} image {i} pixel {j}"
                    );
                }
            }
        }
    }

    #[test]
    fn iterates_stay_in_the_ball_and_box_and_replay_step_by_step() {
        let dev = BackendKind::Flex.device();
        let ad = BackendKind::Flex.autodiff_device();
        let m = tiny(2);
        let x0 = images(1, 16, 16, 5, &dev);
        let cfg = AscentConfig {
            alpha: 2.0,
            eps: Some(3.0),
            steps: 4,
            ..Default::default()
        };
        let run = ascent(&m, x0.clone(), &[1], &cfg, &ad).unwrap();
        assert_eq!(run.iterates.len(), 5);
        let x = tensor_to_vec(x0.clone()).unwrap();
        for (k, it) in run.iterates.iter().enumerate() {
            let v = tensor_to_vec(it.clone()).unwrap();
            assert!(
                v.iter().all(|p| (-1.0..=1.0).contains(p)),
                "step {k} leaves the box"
            );
            let d: Vec<f32> = v.iter().zip(&x).map(|(a, b)| a - b).collect();
            assert!(l2(&d) <= 3.0 * (1.0 + 1e-5), "step {k}: ‖δ‖ = {}", l2(&d));
            if k > 0 {
                let (next, step) =
                    ascent_step(&m, x0.clone(), run.iterates[k - 1].clone(), &[1], &cfg, &ad)
                        .unwrap();
                assert_eq!(tensor_to_vec(next).unwrap(), v, "replay of step {k}");
                assert!((l2(&tensor_to_vec(step).unwrap()) - 2.0).abs() < 1e-4);
            }
        }
        // The target logit goes up.
        let logit = |t: &Tensor<4>| tensor_to_vec(m.forward(t.clone())).unwrap()[1];
        assert!(logit(run.last()) > logit(&run.iterates[0]));
    }

    /// A model whose logits do not depend on the input has zero gradients: steps are zero,
    /// never NaN.
    #[test]
    fn zero_gradient_gives_zero_step() {
        let dev = BackendKind::Flex.device();
        let ad = BackendKind::Flex.autodiff_device();
        let mut m = tiny(3);
        let mut sd = state_dict(&m).unwrap();
        sd.iter_mut()
            .filter(|t| t.name == "fc.weight")
            .for_each(|t| t.values.iter_mut().for_each(|v| *v = 0.0));
        load_state_dict(&mut m, &sd).unwrap();
        let x0 = images(1, 16, 16, 5, &dev);
        for objective in [
            AscentObjective::TargetLogit,
            AscentObjective::CrossEntropy,
            AscentObjective::SelfExplain,
        ] {
            let cfg = AscentConfig {
                steps: 2,
                objective,
                ..Default::default()
            };
            let run = ascent(&m, x0.clone(), &[0], &cfg, &ad).unwrap();
            assert_eq!(
                tensor_to_vec(run.last().clone()).unwrap(),
                tensor_to_vec(x0.clone()).unwrap()
            );
            assert!(tensor_to_vec(run.last_step.unwrap())
                .unwrap()
                .iter()
                .all(|v| *v == 0.0));
        }
    }

    #[test]
    fn objectives_differ_and_options_are_checked() {
        let dev = BackendKind::Flex.device();
        let ad = BackendKind::Flex.autodiff_device();
        let mut m = tiny(4);
        m.set_gradient_mode(GradientMode::Vanilla).unwrap();
        let x0 = images(1, 16, 16, 6, &dev);
        let run = |objective| {
            let cfg = AscentConfig {
                steps: 1,
                alpha: 1.0,
                objective,
                ..Default::default()
            };
            tensor_to_vec(
                ascent(&m, x0.clone(), &[2], &cfg, &ad)
                    .unwrap()
                    .last()
                    .clone(),
            )
            .unwrap()
        };
        let a = run(AscentObjective::TargetLogit);
        let b = run(AscentObjective::CrossEntropy);
        let c = run(AscentObjective::SelfExplain);
        assert_ne!(a, b);
        assert_ne!(a, c);
        let bad = AscentConfig {
            alpha: f64::NAN,
            ..Default::default()
        };
        assert!(matches!(
            ascent(&m, x0.clone(), &[2], &bad, &ad),
            Err(Error::InvalidOption(_))
        ));
        assert!(matches!(
            ascent(&m, x0.clone(), &[12], &AscentConfig::default(), &ad),
            Err(Error::InvalidClass { .. })
        ));
        assert!(ascent(&m, x0, &[1, 2], &AscentConfig::default(), &ad).is_err());
    }
}
