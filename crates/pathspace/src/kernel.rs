//! The product kernel K_Λ(x, x') = ⟨x̃, x̃'⟩ Π_ℓ ⟨λ̃_ℓ(x), λ̃_ℓ(x')⟩ = ⟨φ_Λ(x), φ_Λ(x')⟩ (Eq. 23).
//!
//! In the augmented convention λ̃_ℓ = \[λ_ℓ; 1\], so ⟨λ̃_ℓ, λ̃'_ℓ⟩ = ⟨λ_ℓ, λ'_ℓ⟩ + 1 and
//! ⟨x̃, x̃'⟩ = ⟨x, x'⟩ + 1: this is the path-space inner product over all augmented paths,
//! the space in which f_Λ = ⟨φ_Λ, ω⟩ holds exactly. The Gram matrix of N inputs is
//! (X Xᵀ + 1) ⊙ Π_ℓ (Λ_ℓ Λ_ℓᵀ + 1): L + 1 matrix products, never a scalar loop over pairs.

use nalgebra::DMatrix;
use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::error::{check_shape, Error, Result};
use crate::gating::Gating;
use crate::mlp::{block_mut, rows, Mlp};
use crate::parallel::threads;

/// K_Λ(x, x') (Eq. 23).
///
/// # Shapes
/// `x`, `x2`: d_0.
pub fn product_kernel(
    mlp: &Mlp,
    gating: &impl Gating,
    x: ArrayView1<f64>,
    x2: ArrayView1<f64>,
) -> Result<f64> {
    let g = gating.gates(mlp, x)?;
    let g2 = gating.gates(mlp, x2)?;
    let mut k = x.dot(&x2) + 1.0;
    for (a, b) in g.layers().iter().zip(g2.layers()) {
        k *= a.dot(b) + 1.0;
    }
    Ok(k)
}

/// A ← A ⊙ (B Bᵀ + 1) for a symmetric result, computing only the blocks on and above the
/// diagonal (in parallel) and mirroring them.
fn hadamard_gram_update(acc: &mut Array2<f64>, b: ArrayView2<f64>) {
    let n = b.nrows();
    let block = 256.max(n.div_ceil(8));
    let starts: Vec<usize> = (0..n).step_by(block).collect();
    let pairs: Vec<(usize, usize)> = starts
        .iter()
        .enumerate()
        .flat_map(|(i, &a)| starts[i..].iter().map(move |&c| (a, c)))
        .collect();
    let k = threads().min(pairs.len()).max(1);
    type Blocks = Vec<((usize, usize), Array2<f64>)>;
    let results: Vec<Blocks> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..k)
            .map(|t| {
                let pairs = &pairs;
                scope.spawn(move || {
                    pairs
                        .iter()
                        .skip(t)
                        .step_by(k)
                        .map(|&(r, c)| {
                            let rb = rows(b, r..(r + block).min(n));
                            let cb = rows(b, c..(c + block).min(n));
                            ((r, c), rb.dot(&cb.t()))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread panicked"))
            .collect()
    });
    for ((r, c), m) in results.into_iter().flatten() {
        let (h, w) = m.dim();
        let mut upper = block_mut(acc, r..r + h, c..c + w);
        upper.zip_mut_with(&m, |a, &v| *a *= v + 1.0);
        if r != c {
            let mut lower = block_mut(acc, c..c + w, r..r + h);
            lower.zip_mut_with(&m.t(), |a, &v| *a *= v + 1.0);
        }
    }
}

/// The Gram matrix K_Λ(x_n, x_m) for a batch, by matrix products (Eq. 23).
///
/// # Shapes
/// `xs`: N × d_0; returns N × N.
pub fn gram_matrix(mlp: &Mlp, gating: &impl Gating, xs: ArrayView2<f64>) -> Result<Array2<f64>> {
    let gates = gating.gates_batch(mlp, xs)?;
    let views: Vec<ArrayView2<f64>> = gates.iter().map(|g| g.view()).collect();
    gram_from_factors(xs, &views)
}

/// (X Xᵀ + 1) ⊙ Π_ℓ (Λ_ℓ Λ_ℓᵀ + 1) from precomputed gate matrices.
///
/// # Shapes
/// `xs`: N × d_0, `gates[ℓ-1]`: N × d_ℓ; returns N × N.
pub fn gram_from_factors(xs: ArrayView2<f64>, gates: &[ArrayView2<f64>]) -> Result<Array2<f64>> {
    let n = xs.nrows();
    for (l, g) in gates.iter().enumerate() {
        check_shape(
            &format!("gate matrix of layer {} (N × d_ℓ)", l + 1),
            &[n, g.ncols()],
            g.shape(),
        )?;
    }
    let mut k = Array2::ones((n, n));
    hadamard_gram_update(&mut k, xs);
    for g in gates {
        hadamard_gram_update(&mut k, *g);
    }
    Ok(k)
}

/// log|K_Λ| and sign(K_Λ) for a batch, accumulated in log space: log|⟨x̃, x̃'⟩| +
/// Σ_ℓ log(⟨λ_ℓ, λ'_ℓ⟩ + 1). The layer factors are ≥ 1, so only ⟨x̃, x̃'⟩ carries a sign.
/// Use this for deep or wide networks where the product overflows.
///
/// # Shapes
/// `xs`: N × d_0; returns (N × N, N × N).
pub fn log_gram_matrix(
    mlp: &Mlp,
    gating: &impl Gating,
    xs: ArrayView2<f64>,
) -> Result<(Array2<f64>, Array2<f64>)> {
    let gates = gating.gates_batch(mlp, xs)?;
    let inputs = xs.dot(&xs.t()) + 1.0;
    let sign = inputs.mapv(f64::signum);
    let mut log = inputs.mapv(|v| v.abs().ln());
    for g in &gates {
        log += &(g.dot(&g.t()) + 1.0).mapv(f64::ln);
    }
    Ok((log, sign))
}

/// The smallest eigenvalue of a symmetric matrix (for positive semi-definiteness checks).
///
/// # Shapes
/// `k`: N × N, symmetric.
///
/// # Errors
/// Not square, empty, a non-finite entry, or not symmetric (|k_ij − k_ji| above
/// 1e-10 · max|k|): the eigen-solver reads one triangle only and would otherwise answer
/// for a different matrix (for NaN entries it returned a finite value).
pub fn smallest_eigenvalue(k: ArrayView2<f64>) -> Result<f64> {
    let n = k.nrows();
    check_shape("symmetric matrix (N × N)", &[n, n], k.shape())?;
    if n == 0 {
        return Err(Error::InvalidArgument(
            "empty matrix has no eigenvalues".into(),
        ));
    }
    if let Some(((i, j), v)) = k.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "matrix entry ({i}, {j}) is {v}, not finite"
        )));
    }
    let scale = k.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for i in 0..n {
        for j in (i + 1)..n {
            if (k[[i, j]] - k[[j, i]]).abs() > 1e-10 * scale {
                return Err(Error::InvalidArgument(format!(
                    "matrix is not symmetric: entry ({i}, {j}) = {} but ({j}, {i}) = {}",
                    k[[i, j]],
                    k[[j, i]]
                )));
            }
        }
    }
    let m = DMatrix::from_fn(n, n, |i, j| k[[i, j]]);
    let eig = m.symmetric_eigen();
    Ok(eig
        .eigenvalues
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min))
}
