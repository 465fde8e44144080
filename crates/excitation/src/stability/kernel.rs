//! The product kernel of a gating `Λ` (Eq. 23),
//! `K_Λ(x, x') = ⟨x̃, x̃'⟩ ∏_ℓ ⟨λ̃_ℓ(x), λ̃_ℓ(x')⟩ = ⟨φ_Λ(x), φ_Λ(x')⟩`,
//! with augmented vectors (a constant 1 appended to the input and to every layer, the bias
//! unit of Sec. 2.1), computed in log-space (`log|K| = log|⟨x̃,x̃'⟩| + Σ_ℓ log⟨λ̃_ℓ, λ̃'_ℓ⟩`)
//! so that products over deep, wide layers neither overflow nor underflow, and used as the
//! kernel of a kernel-ridge classifier (one-hot targets).
//!
//! For the classifier the kernel is cosine-normalised,
//! `K̂(x, x') = K(x, x') / √(K(x, x) K(x', x'))`, formed from the logarithms, so its
//! entries lie in `[−1, 1]` whatever the depth.

use crate::experiment_error::{ExperimentError, ExperimentResult};

/// A kernel matrix held as `sign · exp(log_abs)`, row-major `rows × cols`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogKernel {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `log |K|`.
    pub log_abs: Vec<f64>,
    /// `sign K` (0 where `K = 0`).
    pub sign: Vec<f64>,
}

/// Builds `log K` from the plain Gram matrices: `input_gram[i·cols + j] = ⟨x_i, x'_j⟩` and,
/// per layer, `⟨λ_ℓ(x_i), λ_ℓ(x'_j)⟩`. The augmented `+1` is added here.
///
/// # Shapes
/// Every Gram matrix: `rows × cols`, row-major.
pub fn log_product_kernel(
    rows: usize,
    cols: usize,
    input_gram: &[f64],
    layer_grams: &[Vec<f64>],
) -> ExperimentResult<LogKernel> {
    let n = rows * cols;
    if input_gram.len() != n || layer_grams.iter().any(|g| g.len() != n) {
        return Err(ExperimentError::Shape(format!(
            "Gram matrices must all hold {rows}×{cols} = {n} entries (input has {})",
            input_gram.len()
        )));
    }
    let mut log_abs = vec![0.0; n];
    let mut sign = vec![0.0; n];
    for i in 0..n {
        let x = input_gram[i] + 1.0;
        let mut l = x.abs().ln();
        for g in layer_grams {
            let v = g[i] + 1.0;
            if v <= 0.0 {
                return Err(ExperimentError::Shape(format!(
                    "layer Gram entry {} is negative: gates and excitations must be non-negative",
                    g[i]
                )));
            }
            l += v.ln();
        }
        log_abs[i] = l;
        sign[i] = if x == 0.0 { 0.0 } else { x.signum() };
    }
    Ok(LogKernel {
        rows,
        cols,
        log_abs,
        sign,
    })
}

impl LogKernel {
    /// Cosine normalisation with the diagonals `log K(x_i, x_i)` (rows) and
    /// `log K(x'_j, x'_j)` (columns).
    ///
    /// # Shapes
    /// `row_diag`: `rows`, `col_diag`: `cols` → `rows × cols` row-major.
    pub fn normalized(&self, row_diag: &[f64], col_diag: &[f64]) -> Vec<f64> {
        assert_eq!(
            (row_diag.len(), col_diag.len()),
            (self.rows, self.cols),
            "diagonal lengths"
        );
        let mut out = vec![0.0; self.rows * self.cols];
        for (i, &row) in row_diag.iter().enumerate() {
            for (j, &col) in col_diag.iter().enumerate() {
                let k = i * self.cols + j;
                out[k] = self.sign[k] * (self.log_abs[k] - 0.5 * (row + col)).exp();
            }
        }
        out
    }

    /// The kernel values themselves, `sign · exp(log_abs)` (they may overflow to ±∞ for
    /// deep networks: that is why the classifier uses [`LogKernel::normalized`]).
    pub fn values(&self) -> Vec<f64> {
        self.log_abs
            .iter()
            .zip(&self.sign)
            .map(|(l, s)| s * l.exp())
            .collect()
    }

    /// The diagonal `log|K(x_i, x_i)|` of a square kernel.
    pub fn log_diagonal(&self) -> Vec<f64> {
        (0..self.rows.min(self.cols))
            .map(|i| self.log_abs[i * self.cols + i])
            .collect()
    }
}

/// Coefficients of a kernel-ridge classifier, `n × classes` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeCoefficients {
    /// Training points.
    pub n: usize,
    /// Classes.
    pub classes: usize,
    /// `α`, row-major.
    pub alpha: Vec<f64>,
}

/// Kernel ridge regression on one-hot targets: `α = (K + λ I)⁻¹ (Y − 1/C)`, by Cholesky.
///
/// # Shapes
/// `k_train`: `n × n` row-major, `labels`: `n` → `α`: `n × classes`.
pub fn kernel_ridge_fit(
    k_train: &[f64],
    labels: &[u8],
    classes: usize,
    ridge: f64,
) -> ExperimentResult<RidgeCoefficients> {
    let n = labels.len();
    if k_train.len() != n * n {
        return Err(ExperimentError::Shape(format!(
            "kernel has {} entries for {n} labels",
            k_train.len()
        )));
    }
    // Cholesky factor L (lower, row-major) of K + λI.
    let mut l = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = k_train[i * n + j] + if i == j { ridge } else { 0.0 };
            let (ri, rj) = (&l[i * n..i * n + j], &l[j * n..j * n + j]);
            s -= ri.iter().zip(rj).map(|(a, b)| a * b).sum::<f64>();
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return Err(ExperimentError::Config(format!(
                        "kernel matrix + {ridge}·I is not positive definite (pivot {s} at row {i}); raise the ridge"
                    )));
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    let mut alpha = vec![0.0f64; n * classes];
    for c in 0..classes {
        // Solve L u = y_c, then Lᵀ a = u.
        let mut u = vec![0.0f64; n];
        for i in 0..n {
            let y = if labels[i] as usize == c { 1.0 } else { 0.0 } - 1.0 / classes as f64;
            let s: f64 = (0..i).map(|k| l[i * n + k] * u[k]).sum();
            u[i] = (y - s) / l[i * n + i];
        }
        for i in (0..n).rev() {
            let s: f64 = (i + 1..n)
                .map(|k| l[k * n + i] * alpha[k * classes + c])
                .sum();
            alpha[i * classes + c] = (u[i] - s) / l[i * n + i];
        }
    }
    Ok(RidgeCoefficients { n, classes, alpha })
}

/// Predicted classes `argmax_c (K_test,train α)_c`.
///
/// # Shapes
/// `k_test`: `m × n` row-major → `m`.
pub fn kernel_ridge_predict(k_test: &[f64], m: usize, coef: &RidgeCoefficients) -> Vec<usize> {
    let (n, c) = (coef.n, coef.classes);
    (0..m)
        .map(|i| {
            let row = &k_test[i * n..(i + 1) * n];
            let scores: Vec<f64> = (0..c)
                .map(|k| {
                    row.iter()
                        .enumerate()
                        .map(|(j, v)| v * coef.alpha[j * c + k])
                        .sum()
                })
                .collect();
            (0..c).fold(0, |b, k| if scores[k] > scores[b] { k } else { b })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Log-space kernel equals the direct product where both fit in f64, and equals the
    /// explicit path-space dot product `⟨φ(x), φ(x')⟩` with `φ = (⊗ λ̃_ℓ) ⊗ x̃` (Eq. 17).
    #[test]
    fn log_kernel_equals_direct_and_path_space_dot_product() {
        let xs = [vec![0.5, -1.0], vec![2.0, 0.25], vec![-0.3, -0.7]];
        // Two layers of gates/excitations per input.
        let l1 = [
            vec![1.0, 0.0, 0.3],
            vec![0.2, 0.9, 0.0],
            vec![1.0, 1.0, 1.0],
        ];
        let l2 = [vec![0.0, 0.7], vec![0.4, 0.4], vec![1.0, 0.0]];
        let n = 3;
        let gram = |f: &dyn Fn(usize) -> Vec<f64>| -> Vec<f64> {
            (0..n * n).map(|k| dot(&f(k / n), &f(k % n))).collect()
        };
        let gx = gram(&|i| xs[i].clone());
        let g1 = gram(&|i| l1[i].clone());
        let g2 = gram(&|i| l2[i].clone());
        let lk = log_product_kernel(n, n, &gx, &[g1, g2]).unwrap();
        let aug = |v: &Vec<f64>| -> Vec<f64> { v.iter().copied().chain([1.0]).collect() };
        let phi = |i: usize| -> Vec<f64> {
            let mut t = vec![1.0];
            for f in [aug(&l1[i]), aug(&l2[i]), aug(&xs[i])] {
                t = t
                    .iter()
                    .flat_map(|&a| f.iter().map(move |&b| a * b))
                    .collect();
            }
            t
        };
        for (k, v) in lk.values().iter().enumerate() {
            let direct = dot(&phi(k / n), &phi(k % n));
            assert!(
                (v - direct).abs() < 1e-12 * (1.0 + direct.abs()),
                "{v} vs {direct}"
            );
        }
        // Normalised: unit diagonal, and equal to the direct cosine.
        let d = lk.log_diagonal();
        let kn = lk.normalized(&d, &d);
        for i in 0..n {
            assert!((kn[i * n + i] - 1.0).abs() < 1e-12);
        }
        let cos = dot(&phi(0), &phi(1)) / (dot(&phi(0), &phi(0)) * dot(&phi(1), &phi(1))).sqrt();
        assert!((kn[1] - cos).abs() < 1e-12);
    }

    #[test]
    fn deep_kernels_stay_finite_when_normalised() {
        // 60 layers of Gram entries ~1e4: the product is 1e240 · …, log-space keeps it.
        let g = vec![1e4, 5e3, 5e3, 1e4];
        let lk = log_product_kernel(2, 2, &[1.0, 0.5, 0.5, 1.0], &vec![g; 60]).unwrap();
        let d = lk.log_diagonal();
        let kn = lk.normalized(&d, &d);
        assert!(kn.iter().all(|v| v.is_finite()));
        assert!(kn[1] > 0.0 && kn[1] < 1e-10, "{}", kn[1]);
        assert!(log_product_kernel(2, 2, &[1.0; 3], &[]).is_err());
    }

    #[test]
    fn kernel_ridge_solves_the_regularised_system() {
        // (K + λI) α = Y − 1/C checked by multiplying back.
        let k = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let labels = [0u8, 1, 1];
        let c = kernel_ridge_fit(&k, &labels, 2, 0.1).unwrap();
        for i in 0..3 {
            for cl in 0..2 {
                let lhs: f64 = (0..3)
                    .map(|j| (k[i * 3 + j] + if i == j { 0.1 } else { 0.0 }) * c.alpha[j * 2 + cl])
                    .sum();
                let y = if labels[i] as usize == cl { 0.5 } else { -0.5 };
                assert!((lhs - y).abs() < 1e-12, "{lhs} vs {y}");
            }
        }
        assert!(kernel_ridge_fit(&[-1.0], &[0], 2, 0.0).is_err());
    }

    #[test]
    fn kernel_ridge_separates_two_clusters() {
        // Linear kernel on points around (±1, 0): perfectly separable.
        let pts: Vec<[f64; 2]> = (0..20)
            .map(|i| [if i % 2 == 0 { 1.0 } else { -1.0 }, (i as f64) * 0.01])
            .collect();
        let labels: Vec<u8> = (0..20).map(|i| (i % 2) as u8).collect();
        let k: Vec<f64> = (0..400)
            .map(|k| dot(&pts[k / 20], &pts[k % 20]) + 1.0)
            .collect();
        let alpha = kernel_ridge_fit(&k, &labels, 2, 1e-3).unwrap();
        let test = [[0.8, 0.0], [-0.9, 0.1]];
        let kt: Vec<f64> = (0..40)
            .map(|k| dot(&test[k / 20], &pts[k % 20]) + 1.0)
            .collect();
        assert_eq!(kernel_ridge_predict(&kt, 2, &alpha), vec![0, 1]);
    }
}
