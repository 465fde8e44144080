//! placeholder

/// Deterministic synthetic weights and images shared with the PyTorch reference.
pub mod synthetic;
