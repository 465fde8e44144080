//! Pearson correlation between two rank-1 tensors `a = ⊗_ℓ a_ℓ` and `b = ⊗_ℓ b_ℓ` of the
//! tensor product `⊗_{ℓ=1}^L R^{d_ℓ}` (Eq. 13), computed from per-layer sums without ever
//! materialising the `∏ d_ℓ` entries: the test `Γ̃(x) ≈₊ π(x)` of Hypothesis 1.
//!
//! With `P = ∏ d_ℓ`, `E[a] = ∏ S_a,ℓ / d_ℓ` and `E[ab] = ∏ S_ab,ℓ / d_ℓ`, so
//! `R_ab := E[ab] / (E[a] E[b]) = ∏_ℓ d_ℓ S_ab,ℓ / (S_a,ℓ S_b,ℓ)` and
//! `ρ(a, b) = (R_ab − 1) / √((R_aa − 1)(R_bb − 1))`.
//! The products are taken as sums of logarithms (they overflow `f64` for CNN layers) and
//! `R − 1` as `expm1`, so neither large nor near-1 products lose their meaning.

/// The sums of one layer's factor pair that [`rank1_pearson`] needs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LayerSums {
    /// `d_ℓ`, the number of entries.
    pub dim: f64,
    /// `Σ a`.
    pub a: f64,
    /// `Σ b`.
    pub b: f64,
    /// `Σ a·b`.
    pub ab: f64,
    /// `Σ a²`.
    pub aa: f64,
    /// `Σ b²`.
    pub bb: f64,
}

impl LayerSums {
    /// The sums of two factor vectors (for tests and small layers).
    pub fn of(a: &[f64], b: &[f64]) -> Self {
        assert_eq!(a.len(), b.len(), "factor vectors of different lengths");
        let mut s = Self {
            dim: a.len() as f64,
            ..Default::default()
        };
        for (&x, &y) in a.iter().zip(b) {
            s.a += x;
            s.b += y;
            s.ab += x * y;
            s.aa += x * x;
            s.bb += y * y;
        }
        s
    }

    /// The sums of the augmented factors `[a; 1]`, `[b; 1]` (the constant bias unit of
    /// Sec. 2.1's augmented layers).
    pub fn augmented(self) -> Self {
        Self {
            dim: self.dim + 1.0,
            a: self.a + 1.0,
            b: self.b + 1.0,
            ab: self.ab + 1.0,
            aa: self.aa + 1.0,
            bb: self.bb + 1.0,
        }
    }
}

/// `log(R − 1)` and its sign for `log R` given: `R − 1 = expm1(log R)`.
fn log_r_minus_one(log_r: f64) -> (f64, f64) {
    if log_r > 30.0 {
        // R − 1 = R (1 − 1/R), log = log R + log1p(−e^{−log R}).
        (log_r + (-(-log_r).exp()).ln_1p(), 1.0)
    } else {
        let v = log_r.exp_m1();
        (v.abs().ln(), v.signum())
    }
}

/// Pearson correlation of `⊗ a_ℓ` and `⊗ b_ℓ` from per-layer sums. `NaN` when either
/// tensor is constant (zero variance) or has a zero factor sum (the tensor is zero or the
/// mean vanishes and the ratio form does not apply).
pub fn rank1_pearson(layers: &[LayerSums]) -> f64 {
    let (mut lab, mut laa, mut lbb) = (0.0, 0.0, 0.0);
    for s in layers {
        if s.a <= 0.0 || s.b <= 0.0 {
            return f64::NAN;
        }
        let (ld, la, lb) = (s.dim.ln(), s.a.ln(), s.b.ln());
        lab += ld + s.ab.ln() - la - lb;
        laa += ld + s.aa.ln() - 2.0 * la;
        lbb += ld + s.bb.ln() - 2.0 * lb;
    }
    let (nab, sab) = log_r_minus_one(lab);
    let (naa, saa) = log_r_minus_one(laa);
    let (nbb, sbb) = log_r_minus_one(lbb);
    if saa <= 0.0 || sbb <= 0.0 || !naa.is_finite() || !nbb.is_finite() {
        return f64::NAN;
    }
    if sab == 0.0 || nab == f64::NEG_INFINITY {
        return 0.0;
    }
    (sab * (nab - 0.5 * naa - 0.5 * nbb).exp()).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Materialises `⊗ v_ℓ` (first factor slowest).
    fn outer(factors: &[Vec<f64>]) -> Vec<f64> {
        factors.iter().fold(vec![1.0], |acc, f| {
            acc.iter()
                .flat_map(|&x| f.iter().map(move |&y| x * y))
                .collect()
        })
    }

    fn pearson(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Against the explicit Pearson correlation of the materialised tensors, for random
    /// excitation-like factors in (0, 1) and binary gates, plain and augmented.
    #[test]
    fn matches_materialised_tensors() {
        let mut seed = 5;
        for trial in 0..20 {
            let dims = [3 + trial % 3, 4, 2 + trial % 4];
            let a: Vec<Vec<f64>> = dims
                .iter()
                .map(|&d| (0..d).map(|_| lcg(&mut seed)).collect())
                .collect();
            let b: Vec<Vec<f64>> = dims
                .iter()
                .map(|&d| {
                    let mut v: Vec<f64> = (0..d)
                        .map(|_| (lcg(&mut seed) > 0.5) as u8 as f64)
                        .collect();
                    v[0] = 1.0; // keep every factor sum positive
                    v
                })
                .collect();
            for aug in [false, true] {
                let (fa, fb): (Vec<Vec<f64>>, Vec<Vec<f64>>) = if aug {
                    (
                        a.iter()
                            .map(|v| v.iter().copied().chain([1.0]).collect())
                            .collect(),
                        b.iter()
                            .map(|v| v.iter().copied().chain([1.0]).collect())
                            .collect(),
                    )
                } else {
                    (a.clone(), b.clone())
                };
                let direct = pearson(&outer(&fa), &outer(&fb));
                let sums: Vec<LayerSums> = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| {
                        if aug {
                            LayerSums::of(x, y).augmented()
                        } else {
                            LayerSums::of(x, y)
                        }
                    })
                    .collect();
                let r = rank1_pearson(&sums);
                if direct.is_nan() {
                    assert!(r.is_nan());
                } else {
                    assert!(
                        (r - direct).abs() < 1e-10,
                        "trial {trial} aug {aug}: {r} vs {direct}"
                    );
                }
            }
        }
    }

    #[test]
    fn identical_tensors_correlate_perfectly_and_deep_products_stay_finite() {
        // 40 layers of 10 000 entries: P = 10^160, far past f64's range for direct sums.
        let layer = LayerSums {
            dim: 1e4,
            a: 3e3,
            b: 3e3,
            ab: 3e3,
            aa: 3e3,
            bb: 3e3,
        };
        assert!((rank1_pearson(&vec![layer; 40]) - 1.0).abs() < 1e-12);
        let other = LayerSums {
            ab: 1.5e3,
            bb: 3e3,
            ..layer
        };
        let r = rank1_pearson(&vec![other; 40]);
        assert!(r.is_finite() && r > 0.0 && r < 1.0, "{r}");
        // A constant tensor has no variance.
        let flat = LayerSums {
            dim: 4.0,
            a: 4.0,
            b: 2.0,
            ab: 2.0,
            aa: 4.0,
            bb: 2.0,
        };
        assert!(rank1_pearson(&[flat]).is_nan());
    }
}
