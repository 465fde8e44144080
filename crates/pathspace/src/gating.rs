//! Gating functions Λ(x) ∈ Π_ℓ \[0,1\]^{d_ℓ} (Eq. 3).
//!
//! - hard gates G(x) = (g_1, …, g_L), g_ℓ\[i\] = 1 if z_ℓ\[i\] > 0 else 0 (Eq. 1), computed
//!   from the pre-activations Z(x) (Eq. 2);
//! - excitation gates Γ = (σ_ℓ ∘ z_ℓ)_ℓ (Eq. 21) with σ one of sigmoid(z/T), the
//!   rescaled softsign (1 + s/(1+|s|))/2 with s = z/T, or the normal CDF Φ(z/T), and a
//!   global, per-layer or per-neuron temperature T. As in the paper, z_ℓ always comes
//!   from the ordinary (hard-gated) forward pass;
//! - constant gates (every hidden gate = c, e.g. the gate-½ linear network);
//! - frozen gates: Λ evaluated at one input x₀ and applied at every other input;
//! - the gates of another checkpoint θ^(s) with the same widths (Sec. 5.1).
//!
//! Gate values cover the d_ℓ real neurons of each layer only: the constant neuron of the
//! augmented convention is never gated (its gate is 1 everywhere in this crate).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{check_shape, Error, Result};
use crate::mlp::Mlp;

/// Gate values Λ(x) = (λ_1(x), …, λ_L(x)) at one input; `layers[ℓ-1]` has length d_ℓ.
#[derive(Clone, Debug, PartialEq)]
pub struct Gates {
    layers: Vec<Array1<f64>>,
}

impl Gates {
    /// Wraps per-layer gate vectors, checking that every value is in \[0, 1\].
    ///
    /// # Shapes
    /// `layers[ℓ-1]`: d_ℓ
    pub fn new(layers: Vec<Array1<f64>>) -> Result<Self> {
        for (l, g) in layers.iter().enumerate() {
            for (i, &v) in g.iter().enumerate() {
                if !(0.0..=1.0).contains(&v) {
                    return Err(Error::GateOutOfRange {
                        layer: l + 1,
                        neuron: i,
                        value: v,
                    });
                }
            }
        }
        Ok(Self { layers })
    }

    pub(crate) fn new_unchecked(layers: Vec<Array1<f64>>) -> Self {
        Self { layers }
    }

    /// Number of layers L.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// λ_ℓ for the paper's layer ℓ ∈ 1..=L.
    ///
    /// # Panics
    /// If ℓ is out of range (an internal precondition).
    #[track_caller]
    pub fn layer(&self, layer: usize) -> &Array1<f64> {
        assert!(
            (1..=self.depth()).contains(&layer),
            "layer {layer} not in 1..={}",
            self.depth()
        );
        &self.layers[layer - 1]
    }

    /// All layers, `layers()[ℓ-1]` = λ_ℓ.
    pub fn layers(&self) -> &[Array1<f64>] {
        &self.layers
    }

    /// λ̃_ℓ = \[λ_ℓ; 1\]: the gate vector with the never-gated constant neuron appended.
    ///
    /// # Shapes
    /// Returns d_ℓ + 1.
    #[track_caller]
    pub fn augmented_layer(&self, layer: usize) -> Array1<f64> {
        crate::mlp::augment(self.layer(layer).view())
    }

    /// Checks that the widths match the network.
    pub fn check_widths(&self, mlp: &Mlp) -> Result<()> {
        let widths = mlp.widths();
        let got: Vec<usize> = self.layers.iter().map(|g| g.len()).collect();
        if widths == got {
            Ok(())
        } else {
            Err(Error::Shape {
                what: "gate widths (d_1, …, d_L)".into(),
                expected: widths,
                got,
            })
        }
    }
}

/// A gating function Λ: R^{d_0} → Π_ℓ \[0,1\]^{d_ℓ} (Eq. 3) for a given network.
pub trait Gating {
    /// Λ(x).
    ///
    /// # Shapes
    /// `x`: d_0; returns gates of widths (d_1, …, d_L).
    fn gates(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<Gates>;

    /// Λ for a batch, one N × d_ℓ matrix per layer (row n = λ_ℓ(x_n)).
    ///
    /// # Shapes
    /// `xs`: N × d_0; returns L matrices N × d_ℓ.
    fn gates_batch(&self, mlp: &Mlp, xs: ArrayView2<f64>) -> Result<Vec<Array2<f64>>> {
        mlp.check_batch(&xs)?;
        let mut out: Vec<Array2<f64>> = mlp
            .widths()
            .iter()
            .map(|&d| Array2::zeros((xs.nrows(), d)))
            .collect();
        for (n, x) in xs.outer_iter().enumerate() {
            let g = self.gates(mlp, x)?;
            for (o, l) in out.iter_mut().zip(g.layers()) {
                o.row_mut(n).assign(l);
            }
        }
        Ok(out)
    }
}

impl<G: Gating + ?Sized> Gating for &G {
    fn gates(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<Gates> {
        (**self).gates(mlp, x)
    }
    fn gates_batch(&self, mlp: &Mlp, xs: ArrayView2<f64>) -> Result<Vec<Array2<f64>>> {
        (**self).gates_batch(mlp, xs)
    }
}

impl<G: Gating + ?Sized> Gating for Box<G> {
    fn gates(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<Gates> {
        (**self).gates(mlp, x)
    }
    fn gates_batch(&self, mlp: &Mlp, xs: ArrayView2<f64>) -> Result<Vec<Array2<f64>>> {
        (**self).gates_batch(mlp, xs)
    }
}

/// Hard ReLU gates g_ℓ\[i\] = 1 if z_ℓ\[i\] > 0, else 0 (Eq. 1).
///
/// # Shapes
/// `z`: any length; returns the same length.
pub fn hard_gate(z: ArrayView1<f64>) -> Array1<f64> {
    z.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 })
}

/// The ReLU gating G (Eq. 1): M = M_G.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HardGating;

impl Gating for HardGating {
    fn gates(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<Gates> {
        let z = mlp.pre_activations(x)?;
        Ok(Gates::new_unchecked(
            z.iter().map(|z| hard_gate(z.view())).collect(),
        ))
    }

    fn gates_batch(&self, mlp: &Mlp, xs: ArrayView2<f64>) -> Result<Vec<Array2<f64>>> {
        mlp.pre_activations_batch_map(xs, |_, z| z.mapv_into(|v| if v > 0.0 { 1.0 } else { 0.0 }))
    }
}

/// The sigmoid-shaped σ: R → \[0, 1\] applied to s = z/T (Sec. 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sigma {
    /// sigmoid(s) = 1/(1+e^{-s}) (the paper's choice, with T = 0.3).
    Sigmoid,
    /// Φ(s), the standard normal CDF.
    NormalCdf,
    /// (1 + s/(1+|s|))/2: the softsign rescaled from \[-1, 1\] to \[0, 1\].
    Softsign,
}

impl Sigma {
    /// σ(s).
    pub fn apply(self, s: f64) -> f64 {
        match self {
            Sigma::Sigmoid => {
                if s >= 0.0 {
                    1.0 / (1.0 + (-s).exp())
                } else {
                    let e = s.exp();
                    e / (1.0 + e)
                }
            }
            Sigma::NormalCdf => normal_cdf(s),
            // s = z/T overflows to ±∞ for tiny (subnormal) T; ∞/∞ would be NaN
            Sigma::Softsign if s.is_infinite() => {
                if s > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Sigma::Softsign => 0.5 * (1.0 + s / (1.0 + s.abs())),
        }
    }

    /// All members of the family, for tests and sweeps.
    pub const ALL: [Sigma; 3] = [Sigma::Sigmoid, Sigma::NormalCdf, Sigma::Softsign];
}

/// The standard normal CDF Φ(s) = erfc(-s/√2)/2, accurate to about 1e-15 absolute.
pub fn normal_cdf(s: f64) -> f64 {
    0.5 * erfc(-s / std::f64::consts::SQRT_2)
}

/// The complementary error function erfc(x).
///
/// For |x| < 2.5 a positive-term series 1 − erf(x) with
/// erf(x) = 2/√π e^{-x²} Σ_n 2ⁿ x^{2n+1} / (1·3·…·(2n+1)) (no cancellation inside the sum);
/// for x ≥ 2.5 the continued fraction erfc(x) = e^{-x²}/√π · 1/(x + ½/(x + 1/(x + 3/2/(x + …)))).
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    if x < 2.5 {
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
        }
        1.0 - two_over_sqrt_pi * (-x2).exp() * sum
    } else if x > 27.0 {
        0.0
    } else {
        let mut t = x;
        for n in (1..=120).rev() {
            t = x + (n as f64 * 0.5) / t;
        }
        0.5 * two_over_sqrt_pi * (-x * x).exp() / t
    }
}

/// Temperatures of the excitation function: one global T, one per layer, or one per neuron.
#[derive(Clone, Debug, PartialEq)]
pub enum Temperature {
    /// T for every neuron.
    Global(f64),
    /// `T[ℓ-1]` for every neuron of layer ℓ; length L.
    PerLayer(Vec<f64>),
    /// `T[ℓ-1][i]` for neuron i of layer ℓ; lengths d_ℓ.
    PerNeuron(Vec<Array1<f64>>),
}

fn check_temperature(location: impl Fn() -> String, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidTemperature {
            location: location(),
            value,
        })
    }
}

/// Excitation gating Γ = (σ(z_ℓ / T_ℓ))_ℓ (Eq. 21).
#[derive(Clone, Debug, PartialEq)]
pub struct Excitation {
    sigma: Sigma,
    temperature: Temperature,
}

impl Excitation {
    /// Builds Γ with the given σ and temperatures (all finite and > 0).
    pub fn new(sigma: Sigma, temperature: Temperature) -> Result<Self> {
        match &temperature {
            Temperature::Global(t) => check_temperature(|| "global".into(), *t)?,
            Temperature::PerLayer(ts) => {
                for (l, &t) in ts.iter().enumerate() {
                    check_temperature(|| format!("layer {}", l + 1), t)?;
                }
            }
            Temperature::PerNeuron(ts) => {
                for (l, tl) in ts.iter().enumerate() {
                    for (i, &t) in tl.iter().enumerate() {
                        check_temperature(|| format!("layer {} neuron {i}", l + 1), t)?;
                    }
                }
            }
        }
        Ok(Self { sigma, temperature })
    }

    /// The paper's setting: sigmoid(z / 0.3).
    pub fn paper_default() -> Self {
        Self {
            sigma: Sigma::Sigmoid,
            temperature: Temperature::Global(0.3),
        }
    }

    /// The σ in use.
    pub fn sigma(&self) -> Sigma {
        self.sigma
    }

    /// The temperatures in use.
    pub fn temperature(&self) -> &Temperature {
        &self.temperature
    }

    fn check_against(&self, mlp: &Mlp) -> Result<()> {
        match &self.temperature {
            Temperature::Global(_) => Ok(()),
            Temperature::PerLayer(ts) => {
                check_shape("per-layer temperatures (L)", &[mlp.depth()], &[ts.len()])
            }
            Temperature::PerNeuron(ts) => {
                let got: Vec<usize> = ts.iter().map(|t| t.len()).collect();
                if got == mlp.widths() {
                    Ok(())
                } else {
                    Err(Error::Shape {
                        what: "per-neuron temperatures (d_1, …, d_L)".into(),
                        expected: mlp.widths(),
                        got,
                    })
                }
            }
        }
    }

    /// γ_ℓ = σ(z_ℓ / T_ℓ) for the paper's layer ℓ of `mlp`, from given pre-activations.
    ///
    /// # Shapes
    /// `z`: d_ℓ; returns d_ℓ.
    pub fn excite(&self, mlp: &Mlp, layer: usize, z: ArrayView1<f64>) -> Result<Array1<f64>> {
        self.check_against(mlp)?;
        if !(1..=mlp.depth()).contains(&layer) {
            return Err(Error::IndexOutOfRange(format!(
                "layer {layer} is not in 1..={}",
                mlp.depth()
            )));
        }
        check_shape(
            &format!("pre-activations of layer {layer}"),
            &[mlp.widths()[layer - 1]],
            z.shape(),
        )?;
        Ok(self.excite_unchecked(layer, z))
    }

    fn excite_unchecked(&self, layer: usize, z: ArrayView1<f64>) -> Array1<f64> {
        let sigma = self.sigma;
        match &self.temperature {
            Temperature::Global(t) => z.mapv(|v| sigma.apply(v / t)),
            Temperature::PerLayer(ts) => {
                let t = ts[layer - 1];
                z.mapv(|v| sigma.apply(v / t))
            }
            Temperature::PerNeuron(ts) => {
                let t = &ts[layer - 1];
                Array1::from_iter(z.iter().zip(t).map(|(&v, &t)| sigma.apply(v / t)))
            }
        }
    }
}

impl Gating for Excitation {
    fn gates(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<Gates> {
        self.check_against(mlp)?;
        let z = mlp.pre_activations(x)?;
        Ok(Gates::new_unchecked(
            z.iter()
                .enumerate()
                .map(|(l, z)| self.excite_unchecked(l + 1, z.view()))
                .collect(),
        ))
    }

    fn gates_batch(&self, mlp: &Mlp, xs: ArrayView2<f64>) -> Result<Vec<Array2<f64>>> {
        self.check_against(mlp)?;
        let sigma = self.sigma;
        mlp.pre_activations_batch_map(xs, |layer, mut z| {
            match &self.temperature {
                Temperature::Global(t) => z.mapv_inplace(|v| sigma.apply(v / t)),
                Temperature::PerLayer(ts) => {
                    let t = ts[layer - 1];
                    z.mapv_inplace(|v| sigma.apply(v / t))
                }
                Temperature::PerNeuron(ts) => {
                    for mut row in z.outer_iter_mut() {
                        row.zip_mut_with(&ts[layer - 1], |v, &t| *v = sigma.apply(*v / t));
                    }
                }
            }
            z
        })
    }
}

/// Every hidden gate equal to one constant c ∈ \[0, 1\]; c = ½ is the T → ∞ limit of Γ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConstantGating(pub f64);

impl Gating for ConstantGating {
    fn gates(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<Gates> {
        mlp.check_input(&x)?;
        Gates::new(
            mlp.widths()
                .iter()
                .map(|&d| Array1::from_elem(d, self.0))
                .collect(),
        )
    }
}

/// Frozen gates: Λ(x₀) applied at every input.
#[derive(Clone, Debug, PartialEq)]
pub struct FrozenGating {
    gates: Gates,
}

impl FrozenGating {
    /// Freezes `gating` at the input `x0`.
    ///
    /// # Shapes
    /// `x0`: d_0
    pub fn at(gating: &impl Gating, mlp: &Mlp, x0: ArrayView1<f64>) -> Result<Self> {
        Ok(Self {
            gates: gating.gates(mlp, x0)?,
        })
    }

    /// Freezes explicit gate values.
    pub fn from_gates(gates: Gates) -> Self {
        Self { gates }
    }

    /// The frozen values.
    pub fn frozen(&self) -> &Gates {
        &self.gates
    }
}

impl Gating for FrozenGating {
    fn gates(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<Gates> {
        mlp.check_input(&x)?;
        self.gates.check_widths(mlp)?;
        Ok(self.gates.clone())
    }

    fn gates_batch(&self, mlp: &Mlp, xs: ArrayView2<f64>) -> Result<Vec<Array2<f64>>> {
        mlp.check_batch(&xs)?;
        self.gates.check_widths(mlp)?;
        Ok(self
            .gates
            .layers()
            .iter()
            .map(|g| {
                g.view()
                    .insert_axis(Axis(0))
                    .broadcast((xs.nrows(), g.len()))
                    .expect("row")
                    .to_owned()
            })
            .collect())
    }
}

/// The gating `inner` of another checkpoint θ^(s) (same widths), applied to this network.
///
/// With `inner = HardGating` this is the binary tensor field π = G̃^(s) of Sec. 5.1.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointGating<'a, G> {
    source: &'a Mlp,
    inner: G,
}

impl<'a, G: Gating> CheckpointGating<'a, G> {
    /// Gates of `source` under `inner`.
    pub fn new(source: &'a Mlp, inner: G) -> Self {
        Self { source, inner }
    }
}

impl<G: Gating> Gating for CheckpointGating<'_, G> {
    fn gates(&self, mlp: &Mlp, x: ArrayView1<f64>) -> Result<Gates> {
        check_shape(
            "checkpoint widths (d_0, …, d_L)",
            &mlp.dims(),
            &self.source.dims(),
        )?;
        self.inner.gates(self.source, x)
    }

    fn gates_batch(&self, mlp: &Mlp, xs: ArrayView2<f64>) -> Result<Vec<Array2<f64>>> {
        check_shape(
            "checkpoint widths (d_0, …, d_L)",
            &mlp.dims(),
            &self.source.dims(),
        )?;
        self.inner.gates_batch(self.source, xs)
    }
}
