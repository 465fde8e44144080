//! Learning-rate schedules.

use serde::{Deserialize, Serialize};

/// How the learning rate depends on the step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LrSchedule {
    /// The peak rate throughout.
    Constant,
    /// Linear warm-up over `warmup` steps, then cosine decay to zero at the last step.
    Cosine {
        /// Warm-up steps.
        warmup: usize,
    },
    /// Multiply by `gamma` every `every` steps.
    Step {
        /// Interval.
        every: usize,
        /// Factor.
        gamma: f64,
    },
}

impl LrSchedule {
    /// The rate at `step` (0-based) of a run of `total` steps with peak `lr`.
    pub fn at(&self, lr: f64, step: usize, total: usize) -> f64 {
        match *self {
            Self::Constant => lr,
            Self::Cosine { warmup } => {
                if step < warmup {
                    lr * (step + 1) as f64 / warmup as f64
                } else {
                    let span = total.saturating_sub(warmup).max(1) as f64;
                    let p = (step - warmup) as f64 / span;
                    0.5 * lr * (1.0 + (std::f64::consts::PI * p).cos())
                }
            }
            Self::Step { every, gamma } => lr * gamma.powi((step / every.max(1)) as i32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(LrSchedule::Constant.at(0.1, 50, 100), 0.1);
        let c = LrSchedule::Cosine { warmup: 10 };
        assert!((c.at(1.0, 0, 110) - 0.1).abs() < 1e-12);
        assert!((c.at(1.0, 10, 110) - 1.0).abs() < 1e-12);
        assert!((c.at(1.0, 60, 110) - 0.5).abs() < 1e-12);
        assert!(c.at(1.0, 109, 110) < 1e-3);
        let s = LrSchedule::Step {
            every: 10,
            gamma: 0.5,
        };
        assert_eq!(s.at(1.0, 25, 100), 0.25);
    }
}
