//! Exact path-space theory of ReLU networks ("Pulling Back the Curtain on ReLU Networks",
//! Sections 2–5) on small networks, every identity checked against an independent
//! computation (explicit path sums, finite differences, materialised tensors).
//!
//! Conventions used throughout:
//!
//! - f64 everywhere; arrays are `ndarray`; batches are rows (N × d).
//! - The augmented convention of Sec. 2.1 is exact: x̃ = \[x; 1\], W̃_ℓ = [\[W_ℓ, b_ℓ\], \[0, 1\]],
//!   the constant neuron (index d_ℓ in layer ℓ) is never gated, and the head bias (if any)
//!   is the last entry of ỹ_c. Pullbacks therefore live in R^{d_0+1}: the first d_0
//!   coordinates are the true-input part (the gradient, Eq. 8), the last one collects the
//!   bias contributions so that f_Λ(x) = ⟨v_Λ(x), x̃⟩ exactly (Eq. 7).
//! - A `layer` argument is the paper's ℓ ∈ 1..=L; neuron and class indices are 0-based.
//!
//! Map of the paper (see `docs/theory.md` for the table equation → function → test):
//! [`mlp`] (Sec. 2.1), [`gating`] (Eq. 1–3, 21), [`induced`] (Eq. 4–5), [`pullback`]
//! (Eq. 6–8, Sec. 3.1), [`atoms`] (Eq. 9–11), [`path_tensor`] (Eq. 12–15), [`path_space`]
//! (Eq. 16–19), [`noise`] (Eq. 20), [`kernel`] (Eq. 23), [`stability`] (Sec. 5.1),
//! [`memory`] (Sec. 5.4), [`import`] (PyTorch state_dicts).

pub mod atoms;
pub mod error;
pub mod gating;
pub mod import;
pub mod induced;
pub mod kernel;
pub mod memory;
pub mod mlp;
pub mod noise;
mod parallel;
pub mod path_space;
pub mod path_tensor;
pub mod pullback;
pub mod stability;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
pub use gating::{
    CheckpointGating, ConstantGating, Excitation, FrozenGating, Gates, Gating, HardGating, Sigma,
    Temperature,
};
pub use mlp::{augment, augment_batch, Forward, Mlp};
pub use parallel::threads;
pub use path_tensor::{GateTensorField, LowRankTensor, RankOneTensor, TensorField};
