//! The ReLU network M with a linear head y (Sec. 2.1).
//!
//! z_ℓ = W_ℓ x_{ℓ-1} + b_ℓ,  x_ℓ = ReLU(z_ℓ)  for ℓ = 1..L,  f_c = y_cᵀ M + b^y_c.
//!
//! The augmented convention of Sec. 2.1 is exact here: x̃ = \[x; 1\] and
//!
//! ```text
//! W̃_ℓ = [ W_ℓ  b_ℓ ]  ∈ R^{(d_ℓ+1)×(d_{ℓ-1}+1)}
//!       [ 0 ⋯ 0  1 ]
//! ```
//!
//! so the constant neuron (index d_ℓ of every layer) carries the 1 forward and is never
//! gated. The head may have a bias (PyTorch's last `Linear` does); it becomes the last
//! coordinate of the augmented head ỹ_c = \[y_c; b^y_c\] ∈ R^{d_L+1}, read against the
//! constant neuron of layer L, so f_c(x) = ỹ_cᵀ x̃_L exactly.
//!
//! Conventions of the whole crate: a *layer* argument is the paper's ℓ (1-based,
//! ℓ = 1..L, layer 0 is the input); neuron and class indices are 0-based array indices;
//! neuron index d_ℓ of an augmented vector is the constant neuron.

#![allow(non_snake_case)]

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Slice};

use crate::error::{check_shape, Error, Result};

/// A feed-forward ReLU network with biases and a linear head of C classes.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    weights: Vec<Array2<f64>>,
    biases: Vec<Array1<f64>>,
    head: Array2<f64>,
    head_bias: Array1<f64>,
}

/// The values of one forward pass.
#[derive(Clone, Debug)]
pub struct Forward {
    /// Z(x) = (z_1, …, z_L) (Eq. 2); `pre_activations[ℓ-1]` has length d_ℓ.
    pub pre_activations: Vec<Array1<f64>>,
    /// M(x) = x_L ∈ R^{d_L}.
    pub output: Array1<f64>,
    /// The logits f_c(x) = ỹ_cᵀ x̃_L for every class, length C.
    pub logits: Array1<f64>,
}

impl Mlp {
    /// Builds a network from its layers and head.
    ///
    /// # Shapes
    /// - `weights[ℓ-1]`: d_ℓ × d_{ℓ-1}, `biases[ℓ-1]`: d_ℓ, for ℓ = 1..L (L ≥ 1)
    /// - `head`: C × d_L, `head_bias`: C (use zeros for the paper's bias-free head)
    ///
    /// # Errors
    /// Empty network, zero widths, mismatched shapes or non-finite entries.
    pub fn new(
        weights: Vec<Array2<f64>>,
        biases: Vec<Array1<f64>>,
        head: Array2<f64>,
        head_bias: Array1<f64>,
    ) -> Result<Self> {
        if weights.is_empty() {
            return Err(Error::InvalidNetwork(
                "the network needs at least one hidden ReLU layer (L >= 1)".into(),
            ));
        }
        if weights.len() != biases.len() {
            return Err(Error::InvalidNetwork(format!(
                "{} weight matrices but {} bias vectors",
                weights.len(),
                biases.len()
            )));
        }
        let d0 = weights[0].ncols();
        if d0 == 0 {
            return Err(Error::InvalidNetwork("input dimension d_0 is 0".into()));
        }
        let mut prev = d0;
        for (l, (w, b)) in weights.iter().zip(&biases).enumerate() {
            let layer = l + 1;
            if w.nrows() == 0 {
                return Err(Error::InvalidNetwork(format!("layer {layer} has width 0")));
            }
            check_shape(&format!("W_{layer}"), &[w.nrows(), prev], w.shape())?;
            check_shape(&format!("b_{layer}"), &[w.nrows()], b.shape())?;
            prev = w.nrows();
        }
        if head.nrows() == 0 {
            return Err(Error::InvalidNetwork("the head has 0 classes".into()));
        }
        check_shape("head y", &[head.nrows(), prev], head.shape())?;
        check_shape("head bias", &[head.nrows()], head_bias.shape())?;
        let finite = weights.iter().all(|w| w.iter().all(|v| v.is_finite()))
            && biases.iter().all(|b| b.iter().all(|v| v.is_finite()))
            && head.iter().all(|v| v.is_finite())
            && head_bias.iter().all(|v| v.is_finite());
        if !finite {
            return Err(Error::InvalidNetwork(
                "parameters contain NaN or infinity".into(),
            ));
        }
        Ok(Self {
            weights,
            biases,
            head,
            head_bias,
        })
    }

    /// Number of ReLU layers L.
    pub fn depth(&self) -> usize {
        self.weights.len()
    }

    /// Input dimension d_0 (true coordinates, without the constant 1).
    pub fn input_dim(&self) -> usize {
        self.weights[0].ncols()
    }

    /// Hidden widths (d_1, …, d_L).
    pub fn widths(&self) -> Vec<usize> {
        self.weights.iter().map(|w| w.nrows()).collect()
    }

    /// All widths (d_0, d_1, …, d_L).
    pub fn dims(&self) -> Vec<usize> {
        std::iter::once(self.input_dim())
            .chain(self.widths())
            .collect()
    }

    /// Number of classes C.
    pub fn num_classes(&self) -> usize {
        self.head.nrows()
    }

    /// d_net + C(d_L + 1): all weights, biases and head entries.
    pub fn parameter_count(&self) -> usize {
        self.weights.iter().map(|w| w.len()).sum::<usize>()
            + self.biases.iter().map(|b| b.len()).sum::<usize>()
            + self.head.len()
            + self.head_bias.len()
    }

    /// W_ℓ (d_ℓ × d_{ℓ-1}) for the paper's layer ℓ ∈ 1..=L.
    ///
    /// # Panics
    /// If ℓ is out of range (an internal precondition).
    #[track_caller]
    pub fn weight(&self, layer: usize) -> &Array2<f64> {
        assert!(
            (1..=self.depth()).contains(&layer),
            "layer {layer} not in 1..={}",
            self.depth()
        );
        &self.weights[layer - 1]
    }

    /// b_ℓ (length d_ℓ) for ℓ ∈ 1..=L.
    ///
    /// # Panics
    /// If ℓ is out of range (an internal precondition).
    #[track_caller]
    pub fn bias(&self, layer: usize) -> &Array1<f64> {
        assert!(
            (1..=self.depth()).contains(&layer),
            "layer {layer} not in 1..={}",
            self.depth()
        );
        &self.biases[layer - 1]
    }

    /// The head y (C × d_L), one row y_c per class.
    pub fn head(&self) -> &Array2<f64> {
        &self.head
    }

    /// The head bias (length C).
    pub fn head_bias(&self) -> &Array1<f64> {
        &self.head_bias
    }

    /// Replaces the head bias, e.g. with zeros to obtain the paper's bias-free head.
    ///
    /// # Shapes
    /// `head_bias`: C
    pub fn with_head_bias(mut self, head_bias: Array1<f64>) -> Result<Self> {
        check_shape("head bias", &[self.num_classes()], head_bias.shape())?;
        self.head_bias = head_bias;
        Ok(self)
    }

    /// The augmented matrix W̃_ℓ = [\[W_ℓ, b_ℓ\], \[0, 1\]] for ℓ ∈ 1..=L.
    ///
    /// # Shapes
    /// Returns (d_ℓ+1) × (d_{ℓ-1}+1).
    #[track_caller]
    pub fn augmented_weight(&self, layer: usize) -> Array2<f64> {
        let W = self.weight(layer);
        let b = self.bias(layer);
        let (r, c) = W.dim();
        let mut Wt = Array2::zeros((r + 1, c + 1));
        block_mut(&mut Wt, 0..r, 0..c).assign(W);
        block_mut(&mut Wt, 0..r, c..c + 1).column_mut(0).assign(b);
        Wt[[r, c]] = 1.0;
        Wt
    }

    /// The augmented head ỹ = \[y, b^y\] (C × (d_L+1)); row c is ỹ_c.
    pub fn augmented_head(&self) -> Array2<f64> {
        let (c, d) = self.head.dim();
        let mut yt = Array2::zeros((c, d + 1));
        block_mut(&mut yt, 0..c, 0..d).assign(&self.head);
        yt.column_mut(d).assign(&self.head_bias);
        yt
    }

    /// ỹ_c (length d_L + 1), checking the class index.
    pub fn augmented_class_head(&self, class: usize) -> Result<Array1<f64>> {
        self.check_class(class)?;
        let mut y = Array1::zeros(self.head.ncols() + 1);
        head_mut(&mut y, self.head.ncols()).assign(&self.head.row(class));
        y[self.head.ncols()] = self.head_bias[class];
        Ok(y)
    }

    pub(crate) fn check_class(&self, class: usize) -> Result<()> {
        if class < self.num_classes() {
            Ok(())
        } else {
            Err(Error::ClassOutOfRange {
                class,
                classes: self.num_classes(),
            })
        }
    }

    pub(crate) fn check_input(&self, x: &ArrayView1<f64>) -> Result<()> {
        check_shape("input x", &[self.input_dim()], x.shape())?;
        if x.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(Error::InvalidArgument(
                "input x contains NaN or infinity".into(),
            ))
        }
    }

    pub(crate) fn check_batch(&self, xs: &ArrayView2<f64>) -> Result<()> {
        check_shape(
            "input batch X (N × d_0)",
            &[xs.nrows(), self.input_dim()],
            xs.shape(),
        )?;
        if xs.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(Error::InvalidArgument(
                "input batch contains NaN or infinity".into(),
            ))
        }
    }

    /// The ordinary forward pass: Z(x), M(x) and the logits.
    ///
    /// # Shapes
    /// `x`: d_0
    pub fn forward(&self, x: ArrayView1<f64>) -> Result<Forward> {
        self.check_input(&x)?;
        let mut a = x.to_owned();
        let mut pre_activations = Vec::with_capacity(self.depth());
        for (W, b) in self.weights.iter().zip(&self.biases) {
            let z = W.dot(&a) + b;
            a = z.mapv(|v| v.max(0.0));
            pre_activations.push(z);
        }
        let logits = self.head.dot(&a) + &self.head_bias;
        Ok(Forward {
            pre_activations,
            output: a,
            logits,
        })
    }

    /// Pre-activations Z(x) = (z_1(x), …, z_L(x)) (Eq. 2).
    ///
    /// # Shapes
    /// `x`: d_0; returns L vectors of lengths d_ℓ.
    pub fn pre_activations(&self, x: ArrayView1<f64>) -> Result<Vec<Array1<f64>>> {
        Ok(self.forward(x)?.pre_activations)
    }

    /// Logits f_c(x) for all classes.
    ///
    /// # Shapes
    /// `x`: d_0; returns C.
    pub fn logits(&self, x: ArrayView1<f64>) -> Result<Array1<f64>> {
        Ok(self.forward(x)?.logits)
    }

    /// Pre-activations of a batch, one matrix per layer, computed with matrix products.
    ///
    /// # Shapes
    /// `xs`: N × d_0; returns L matrices N × d_ℓ.
    pub fn pre_activations_batch(&self, xs: ArrayView2<f64>) -> Result<Vec<Array2<f64>>> {
        self.pre_activations_batch_map(xs, |_, z| z)
    }

    /// Pre-activations of a batch with `map(ℓ, Z_ℓ)` applied to each layer's matrix, in
    /// row chunks on all cores (e.g. to turn Z into gates without a second pass).
    ///
    /// # Shapes
    /// `xs`: N × d_0; returns L matrices N × d_ℓ.
    pub(crate) fn pre_activations_batch_map(
        &self,
        xs: ArrayView2<f64>,
        map: impl Fn(usize, Array2<f64>) -> Array2<f64> + Sync,
    ) -> Result<Vec<Array2<f64>>> {
        self.check_batch(&xs)?;
        crate::parallel::map_row_chunks_multi(xs.nrows(), 32, |r| {
            let z = self.pre_activations_batch_unchecked(rows(xs, r));
            Ok(z.into_iter()
                .enumerate()
                .map(|(l, z)| map(l + 1, z))
                .collect())
        })
    }

    pub(crate) fn pre_activations_batch_unchecked(&self, xs: ArrayView2<f64>) -> Vec<Array2<f64>> {
        let mut out: Vec<Array2<f64>> = Vec::with_capacity(self.depth());
        for (l, (W, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            let mut z = if l == 0 {
                xs.dot(&W.t())
            } else {
                out[l - 1].mapv(|v| v.max(0.0)).dot(&W.t())
            };
            z += &b.view().insert_axis(Axis(0));
            out.push(z);
        }
        out
    }

    /// Logits of a batch.
    ///
    /// # Shapes
    /// `xs`: N × d_0; returns N × C.
    pub fn logits_batch(&self, xs: ArrayView2<f64>) -> Result<Array2<f64>> {
        let z = self.pre_activations_batch(xs)?;
        let last = z.last().expect("L >= 1").mapv(|v| v.max(0.0));
        Ok(last.dot(&self.head.t()) + self.head_bias.view().insert_axis(Axis(0)))
    }
}

/// The augmented vector x̃ = \[x; 1\].
///
/// # Shapes
/// `x`: d; returns d + 1.
pub fn augment(x: ArrayView1<f64>) -> Array1<f64> {
    let mut out = Array1::ones(x.len() + 1);
    head_mut(&mut out, x.len()).assign(&x);
    out
}

/// The augmented batch X̃ = \[X, 1\].
///
/// # Shapes
/// `xs`: N × d; returns N × (d + 1).
pub fn augment_batch(xs: ArrayView2<f64>) -> Array2<f64> {
    let (n, d) = xs.dim();
    let mut out = Array2::ones((n, d + 1));
    block_mut(&mut out, 0..n, 0..d).assign(&xs);
    out
}

/// SplitMix64: a tiny seeded generator for reproducible demo networks and inputs.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn symmetric(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// A matrix with entries uniform in [-scale, scale).
    ///
    /// # Shapes
    /// Returns rows × cols.
    pub fn matrix(&mut self, rows: usize, cols: usize, scale: f64) -> Array2<f64> {
        Array2::from_shape_simple_fn((rows, cols), || scale * self.symmetric())
    }
}

impl Mlp {
    /// A seeded random network: W_ℓ uniform with variance 2/d_{ℓ-1} (He), biases uniform
    /// in ±0.5/√d_{ℓ-1} (non-zero almost surely), head likewise with its bias.
    ///
    /// # Shapes
    /// `dims` = (d_0, d_1, …, d_L) with L ≥ 1; C = `classes`.
    pub fn random(dims: &[usize], classes: usize, seed: u64) -> Result<Self> {
        if dims.len() < 2 {
            return Err(Error::InvalidNetwork(format!(
                "dims {dims:?} need an input width and at least one hidden width"
            )));
        }
        let mut rng = SplitMix64::new(seed);
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for w in dims.windows(2) {
            let fan_in = w[0].max(1) as f64;
            weights.push(rng.matrix(w[1], w[0], (6.0 / fan_in).sqrt()));
            biases.push(
                rng.matrix(1, w[1], 0.5 / fan_in.sqrt())
                    .remove_axis(Axis(0)),
            );
        }
        let d_l = *dims.last().expect("len >= 2");
        let fan_in = d_l.max(1) as f64;
        let head = rng.matrix(classes, d_l, (3.0 / fan_in).sqrt());
        let head_bias = rng
            .matrix(1, classes, 0.5 / fan_in.sqrt())
            .remove_axis(Axis(0));
        Self::new(weights, biases, head, head_bias)
    }
}

// Sub-views without the `s!` macro (its expansion carries `allow(unsafe_code)`, which the
// workspace's `forbid(unsafe_code)` rejects).

/// The first `n` entries of a vector.
pub(crate) fn head(v: ArrayView1<'_, f64>, n: usize) -> ArrayView1<'_, f64> {
    let mut v = v;
    v.slice_axis_inplace(Axis(0), Slice::from(0..n));
    v
}

/// The first `n` entries of a vector, mutably.
pub(crate) fn head_mut(v: &mut Array1<f64>, n: usize) -> ArrayViewMut1<'_, f64> {
    let mut v = v.view_mut();
    v.slice_axis_inplace(Axis(0), Slice::from(0..n));
    v
}

/// Rows `r` of a matrix.
pub(crate) fn rows(a: ArrayView2<'_, f64>, r: Range<usize>) -> ArrayView2<'_, f64> {
    let mut a = a;
    a.slice_axis_inplace(Axis(0), Slice::from(r));
    a
}

/// The block (rows `r`, columns `c`) of a matrix.
pub(crate) fn block(
    a: ArrayView2<'_, f64>,
    r: Range<usize>,
    c: Range<usize>,
) -> ArrayView2<'_, f64> {
    let mut a = a;
    a.slice_axis_inplace(Axis(0), Slice::from(r));
    a.slice_axis_inplace(Axis(1), Slice::from(c));
    a
}

/// The block (rows `r`, columns `c`) of a matrix, mutably.
pub(crate) fn block_mut(
    a: &mut Array2<f64>,
    r: Range<usize>,
    c: Range<usize>,
) -> ArrayViewMut2<'_, f64> {
    let mut a = a.view_mut();
    a.slice_axis_inplace(Axis(0), Slice::from(r));
    a.slice_axis_inplace(Axis(1), Slice::from(c));
    a
}
