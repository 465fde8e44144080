//! Exact path-space theory of ReLU networks (placeholder; see issue 2).
