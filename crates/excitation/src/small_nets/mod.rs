//! CIFAR-scale networks for the gate-stability experiments (Sec. 5): plain VGG-style CNNs
//! (conv–\[BN\]–ReLU blocks and 2×2 max-pools, no skips, so the chain formalism of
//! Sections 2–3 holds exactly) with and without BatchNorm, and a small ResNet, all built
//! from the crate's gated layers ([`crate::relu::GatedRelu`], [`crate::max_pool::GatedMaxPool2d`],
//! [`crate::resnet::BasicBlock`]).
//!
//! Every network runs in one of three [`GateMode`]s: the ordinary ReLU network
//! (`M = M_G`, Eq. 4), the excitation surrogate (forward `M`, backward through
//! `σ(z/T)` and the soft max-pool: Sec. 4.2, Listings 1–2), or with its gates frozen to
//! given binary masks (the π-induced network `f_π`, Sec. 5.1), and returns its per-layer
//! pre-activations so gates `G(x)` and excitations `Γ(x)` (Eq. 21) can be measured.

pub mod explain;
pub mod gating;
pub mod net;
pub mod plain_cnn;
pub mod resnet;

pub use gating::{GateKind, GateLayer, GateMode, Gates};
pub use net::{GatedNetwork, SmallNet, SmallNetConfig};
pub use plain_cnn::{PlainCnn, PlainCnnConfig, Trace};
pub use resnet::{SmallResNet, SmallResNetConfig};
