//! Gate functions σ and the gradient-mode switch.
//!
//! The excitation pullback replaces the derivative of every ReLU, the step 1\[z > 0\], by a soft
//! gate σ(z/T) with temperature T > 0: the excitation function Γ = (σ∘z_ℓ)_ℓ of Eq. 21, whose
//! pullback v_Γᵀ = yᵀ M⃗_Γ (Eq. 6) is computed by the backward pass of Listing 1.
//! As T → 0 every σ below tends to the step, so the pullback tends to the vanilla gradient.
//! The family is the one the core crate `pathspace` uses:
//!
//! | [`Sigma`] | σ(u), u = z/T |
//! |---|---|
//! | `Sigmoid` (the paper's) | 1 / (1 + e^(−u)) |
//! | `NormalCdf` | Φ(u) = (1 + erf(u/√2)) / 2 |
//! | `Softsign` (rescaled) | (1 + u/(1 + \|u\|)) / 2 |
//!
//! [`GradientMode`] is the single switch that every gated layer follows: `Vanilla` is plain
//! autodiff, `Excitation { sigma, temperature }` is the paper's surrogate backward.

use burn::tensor::{activation, Tensor};

use crate::error::{Error, Result};

/// The temperature of the paper's experiments and demo (`INIT_MODEL_TEMP = 0.3`).
pub const DEFAULT_TEMPERATURE: f64 = 0.3;

/// A soft gate σ: ℝ → (0, 1) with σ(0) = 1/2 and σ(−u) = 1 − σ(u).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sigma {
    /// Logistic sigmoid 1/(1 + e^(−u)), the paper's choice (Listing 1).
    #[default]
    Sigmoid,
    /// Standard normal CDF Φ(u).
    NormalCdf,
    /// Softsign rescaled to (0, 1): (1 + u/(1 + |u|))/2.
    Softsign,
}

impl Sigma {
    /// All variants, in a fixed order.
    pub const ALL: [Sigma; 3] = [Sigma::Sigmoid, Sigma::NormalCdf, Sigma::Softsign];

    /// Name used on the command line and in files: `sigmoid`, `normal-cdf`, `softsign`.
    pub fn name(self) -> &'static str {
        match self {
            Sigma::Sigmoid => "sigmoid",
            Sigma::NormalCdf => "normal-cdf",
            Sigma::Softsign => "softsign",
        }
    }

    /// Parses a name given by [`Sigma::name`] (also accepts `normal_cdf`, `phi`).
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sigmoid" | "logistic" => Ok(Sigma::Sigmoid),
            "normal-cdf" | "normal_cdf" | "normalcdf" | "phi" => Ok(Sigma::NormalCdf),
            "softsign" => Ok(Sigma::Softsign),
            _ => Err(Error::UnknownName {
                what: "sigma",
                name: name.to_string(),
                expected: "sigmoid, normal-cdf, softsign".into(),
            }),
        }
    }

    /// σ(u) for a scalar, in f64 (reference for tests and for the core crate).
    pub fn eval(self, u: f64) -> f64 {
        match self {
            Sigma::Sigmoid => {
                if u >= 0.0 {
                    1.0 / (1.0 + (-u).exp())
                } else {
                    let e = u.exp();
                    e / (1.0 + e)
                }
            }
            Sigma::NormalCdf => 0.5 * libm_erfc(-u / std::f64::consts::SQRT_2),
            Sigma::Softsign => 0.5 * (1.0 + u / (1.0 + u.abs())),
        }
    }

    /// The gate σ(z/T) applied element-wise to a tensor.
    ///
    /// # Shapes
    /// - `z`: any shape; output: same shape.
    pub fn gate<const D: usize>(self, z: Tensor<D>, temperature: f64) -> Tensor<D> {
        let u = z.div_scalar(temperature);
        match self {
            Sigma::Sigmoid => activation::sigmoid(u),
            Sigma::NormalCdf => u
                .div_scalar(std::f64::consts::SQRT_2)
                .erf()
                .add_scalar(1.0)
                .mul_scalar(0.5),
            Sigma::Softsign => {
                let denom = u.clone().abs().add_scalar(1.0);
                u.div(denom).add_scalar(1.0).mul_scalar(0.5)
            }
        }
    }
}

impl std::fmt::Display for Sigma {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Sigma {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Sigma::parse(s)
    }
}

/// erfc in f64 (W. J. Cody's rational approximations are overkill here; this is the
/// Numerical Recipes `erfcc` Chebyshev fit, relative error < 1.2e-7 everywhere).
fn libm_erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// How gradients flow backwards through every ReLU and max-pool of a model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum GradientMode {
    /// Plain autodiff: ReLU′ = 1\[z > 0\], max-pool routes to the (first) maximum.
    #[default]
    Vanilla,
    /// The paper's excitation pullback: ReLU′ replaced by σ(z/T), max-pool by the gradient of
    /// softmax pooling at temperature T (Listings 1–2). Forward values are unchanged.
    Excitation {
        /// The gate function.
        sigma: Sigma,
        /// The temperature T > 0.
        temperature: f64,
    },
}

impl GradientMode {
    /// The paper's setting: sigmoid gate at temperature 0.3.
    pub fn paper() -> Self {
        GradientMode::Excitation {
            sigma: Sigma::Sigmoid,
            temperature: DEFAULT_TEMPERATURE,
        }
    }

    /// An excitation mode, checking that the temperature is finite and positive.
    pub fn excitation(sigma: Sigma, temperature: f64) -> Result<Self> {
        check_temperature(temperature)?;
        Ok(GradientMode::Excitation { sigma, temperature })
    }

    /// Checks the temperature of an `Excitation` mode (`Vanilla` is always valid).
    pub fn validate(self) -> Result<Self> {
        if let GradientMode::Excitation { temperature, .. } = self {
            check_temperature(temperature)?;
        }
        Ok(self)
    }

    /// The same mode with another temperature (a `Vanilla` mode stays `Vanilla`).
    pub fn with_temperature(self, temperature: f64) -> Result<Self> {
        match self {
            GradientMode::Vanilla => Ok(GradientMode::Vanilla),
            GradientMode::Excitation { sigma, .. } => GradientMode::excitation(sigma, temperature),
        }
    }

    /// The temperature, if this is an excitation mode.
    pub fn temperature(self) -> Option<f64> {
        match self {
            GradientMode::Vanilla => None,
            GradientMode::Excitation { temperature, .. } => Some(temperature),
        }
    }
}

fn check_temperature(t: f64) -> Result<()> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidTemperature(t))
    }
}

/// Models and layers whose ReLUs and max-pools are gated, addressable one by one.
///
/// `visit_gates` calls `f(name, mode)` for every gated layer, with the layer's torchvision module
/// name (`layer1.0.relu`, `features.2`, `features.denseblock1.denselayer3.relu2`, …), so that
/// per-layer temperatures can be set.
pub trait Gated {
    /// Calls `f` with the name and a mutable reference to the mode of every gated layer.
    fn visit_gates(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut GradientMode));

    /// Sets every gated layer to `mode` (checked first).
    fn set_gradient_mode(&mut self, mode: GradientMode) -> Result<()> {
        let mode = mode.validate()?;
        self.visit_gates("", &mut |_, m| *m = mode);
        Ok(())
    }

    /// Sets each gated layer to `choose(name)`; every returned mode is checked.
    fn set_gradient_modes_with(
        &mut self,
        choose: &mut dyn FnMut(&str) -> GradientMode,
    ) -> Result<()> {
        let mut bad = None;
        self.visit_gates("", &mut |name, m| {
            let new = choose(name);
            match new.validate() {
                Ok(new) => *m = new,
                Err(e) => {
                    bad.get_or_insert(e);
                }
            }
        });
        bad.map_or(Ok(()), Err)
    }

    /// Names and modes of every gated layer, in forward order.
    fn gradient_modes(&mut self) -> Vec<(String, GradientMode)> {
        let mut out = Vec::new();
        self.visit_gates("", &mut |name, m| out.push((name.to_string(), *m)));
        out
    }
}

/// Joins a module path prefix and a field name with a dot.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_scalar_symmetry_and_midpoint() {
        for s in Sigma::ALL {
            assert!((s.eval(0.0) - 0.5).abs() < 1e-7, "{s}");
            for u in [-7.0, -1.3, -0.2, 0.4, 2.5, 9.0] {
                assert!((s.eval(u) + s.eval(-u) - 1.0).abs() < 1e-7, "{s} at {u}");
                assert!((0.0..=1.0).contains(&s.eval(u)));
                if u.abs() < 3.0 {
                    assert!(s.eval(u) > 0.0 && s.eval(u) < 1.0, "{s} at {u}");
                }
            }
            // monotone
            assert!(s.eval(1.0) > s.eval(0.5));
        }
        // Known values: Φ(1) = 0.841344746…, sigmoid(1) = 0.731058578…, softsign: (1+1/2)/2.
        assert!((Sigma::NormalCdf.eval(1.0) - 0.841_344_746_068_543).abs() < 2e-7);
        assert!((Sigma::Sigmoid.eval(1.0) - 0.731_058_578_630_004_9).abs() < 1e-12);
        assert!((Sigma::Softsign.eval(1.0) - 0.75).abs() < 1e-15);
    }

    #[test]
    fn sigma_parse_round_trip_and_errors() {
        for s in Sigma::ALL {
            assert_eq!(Sigma::parse(s.name()).unwrap(), s);
        }
        let e = Sigma::parse("tanh").unwrap_err().to_string();
        assert!(e.contains("tanh") && e.contains("sigmoid"), "{e}");
    }

    #[test]
    fn temperatures_are_checked() {
        for t in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(GradientMode::excitation(Sigma::Sigmoid, t).is_err(), "{t}");
        }
        let bad = GradientMode::Excitation {
            sigma: Sigma::Sigmoid,
            temperature: -0.5,
        };
        assert!(matches!(bad.validate(), Err(Error::InvalidTemperature(t)) if t == -0.5));
        assert!(GradientMode::Vanilla.validate().is_ok());
        assert_eq!(GradientMode::paper().temperature(), Some(0.3));
    }
}
