//! A dependency-free text progress bar on stderr.

use std::io::Write;
use std::time::Instant;

/// Redraws one line: `[#####.....] 120/1500  loss 0.431  acc 0.852  …  12s`.
pub struct Progress {
    total: usize,
    start: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    /// A bar for `total` steps.
    pub fn new(total: usize) -> Self {
        Self {
            total: total.max(1),
            start: Instant::now(),
            last_draw: None,
        }
    }

    /// Draws step `done` with a free-form suffix (at most ten times a second, always at the end).
    pub fn draw(&mut self, done: usize, suffix: &str) {
        let now = Instant::now();
        if done < self.total
            && self
                .last_draw
                .is_some_and(|t| now.duration_since(t).as_millis() < 100)
        {
            return;
        }
        self.last_draw = Some(now);
        let width = 30;
        let filled = done.min(self.total) * width / self.total;
        let bar: String = "#".repeat(filled) + &".".repeat(width - filled);
        let secs = self.start.elapsed().as_secs_f64();
        let eta = if done > 0 {
            secs * (self.total - done.min(self.total)) as f64 / done as f64
        } else {
            0.0
        };
        eprint!(
            "\r[{bar}] {done}/{}  {suffix}  {secs:.0}s (eta {eta:.0}s)   ",
            self.total
        );
        let _ = std::io::stderr().flush();
    }

    /// Ends the line.
    pub fn finish(&self) {
        eprintln!();
    }
}
