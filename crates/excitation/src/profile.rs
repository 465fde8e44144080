//! Wall-clock totals per kind of operation, for benchmarks: where a forward pass or a pullback
//! spends its time on flex, on any number of threads (`bench_models --profile`).
//!
//! Off by default; then each operation below costs one relaxed atomic load. When on, the flex
//! implementations of this crate's own operations (the frozen convolutions and linear layers,
//! the gates, the max-pools and the element-wise passes), forward and backward, add their
//! wall-clock time and a call to their [`Kind`]'s totals. Everything else a pass does (flex's
//! own operations, autodiff's bookkeeping and gradient sums, the few convolutions no frozen
//! path takes) is the pass's time minus their sum. Each operation runs to completion on the
//! calling thread (flex is eager; its parallel parts join before it returns), so the totals
//! add up to at most the pass's time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// A kind of operation that is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 3×3 convolution by Winograd F(2, 3) (`winograd`), forward.
    ConvWinograd,
    /// Its input gradient.
    ConvWinogradGrad,
    /// Convolution as GEMMs (`im2col`: 1×1 and the other frozen paths), forward.
    ConvIm2col,
    /// Its input gradient.
    ConvIm2colGrad,
    /// Frozen linear layer on one row (`linear_op`), forward.
    Linear,
    /// Its input gradient.
    LinearGrad,
    /// Gated ReLU (`gate_op`), forward (the ReLU).
    Gate,
    /// Its backward (the gate σ(z/T), or the ReLU's derivative).
    GateGrad,
    /// Max-pool (`pool_op`), forward.
    MaxPool,
    /// Its backward (hard or soft).
    MaxPoolGrad,
    /// Element-wise passes (`elementwise_op`: residual sums, eval-mode BatchNorm's per-channel
    /// map, DenseNet's channel append), forward.
    Elementwise,
    /// Their backward.
    ElementwiseGrad,
}

impl Kind {
    /// Every kind, in the order of the report.
    pub const ALL: [Kind; 12] = [
        Kind::ConvWinograd,
        Kind::ConvWinogradGrad,
        Kind::ConvIm2col,
        Kind::ConvIm2colGrad,
        Kind::Linear,
        Kind::LinearGrad,
        Kind::Gate,
        Kind::GateGrad,
        Kind::MaxPool,
        Kind::MaxPoolGrad,
        Kind::Elementwise,
        Kind::ElementwiseGrad,
    ];

    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ConvWinograd => "conv winograd",
            Kind::ConvWinogradGrad => "conv winograd input grad",
            Kind::ConvIm2col => "conv im2col",
            Kind::ConvIm2colGrad => "conv im2col input grad",
            Kind::Linear => "linear",
            Kind::LinearGrad => "linear input grad",
            Kind::Gate => "relu gate",
            Kind::GateGrad => "relu gate backward",
            Kind::MaxPool => "max-pool",
            Kind::MaxPoolGrad => "max-pool backward",
            Kind::Elementwise => "element-wise",
            Kind::ElementwiseGrad => "element-wise backward",
        }
    }

    fn index(self) -> usize {
        Kind::ALL
            .iter()
            .position(|&k| k == self)
            .expect("every kind is in ALL")
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; 12] = [const { AtomicU64::new(0) }; 12];
static CALLS: [AtomicU64; 12] = [const { AtomicU64::new(0) }; 12];

/// Switches the timing on or off for the whole process (off by default).
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// One kind's totals since the last [`take`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Total {
    /// The kind of operation.
    pub kind: Kind,
    /// Operations timed.
    pub calls: u64,
    /// Their wall-clock time, in seconds.
    pub seconds: f64,
}

/// Every kind's totals since the last call (in [`Kind::ALL`]'s order, zeros included), and
/// starts them again from zero.
pub fn take() -> Vec<Total> {
    Kind::ALL
        .iter()
        .map(|&kind| Total {
            kind,
            calls: CALLS[kind.index()].swap(0, Ordering::Relaxed),
            seconds: NANOS[kind.index()].swap(0, Ordering::Relaxed) as f64 * 1e-9,
        })
        .collect()
}

/// Times the operation it lives through, as `kind`, when timing is on.
#[must_use = "the operation is timed until the span is dropped"]
pub struct Span {
    kind: Kind,
    start: Option<Instant>,
}

/// Starts timing an operation of `kind` (nothing when timing is off).
pub fn span(kind: Kind) -> Span {
    let start = ENABLED.load(Ordering::Relaxed).then(Instant::now);
    Span { kind, start }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            let i = self.kind.index();
            NANOS[i].fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            CALLS[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}
