//! Seeded augmentation for training: random crop with zero padding and horizontal flip,
//! the standard CIFAR recipe, applied to raw `u8` images.

/// A small, fast, seedable generator (SplitMix64, Steele et al. 2014). Its whole state is
/// one `u64`, so a training run can store it in a checkpoint and resume exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for the stream `(seed, stream)`: independent-looking streams for, e.g.,
    /// each epoch's shuffle or each step's augmentation.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut g = Self::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        g.next_u64();
        g
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform integer in `0..n` (`n > 0`; the modulo bias is below 2⁻³² for `n < 2³²`).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "SplitMix64::below(0)");
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform float in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A Fisher–Yates shuffle of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, self.below(i + 1));
        }
        p
    }
}

/// Random crop after zero padding, then a horizontal flip with probability ½.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Augmentation {
    /// Zero padding on each side before the crop back to the original size.
    pub padding: usize,
    /// Whether to flip horizontally with probability ½.
    pub flip: bool,
}

impl Augmentation {
    /// Augments one image in place.
    ///
    /// # Shapes
    /// `image`: `[C, H, W]` flattened, `C·H·W` bytes.
    pub fn apply(
        &self,
        image: &mut [u8],
        channels: usize,
        height: usize,
        width: usize,
        rng: &mut SplitMix64,
    ) {
        assert_eq!(
            image.len(),
            channels * height * width,
            "image buffer does not match C·H·W"
        );
        let p = self.padding;
        let dy = rng.below(2 * p + 1) as isize - p as isize;
        let dx = rng.below(2 * p + 1) as isize - p as isize;
        let flip = self.flip && rng.below(2) == 1;
        let src = image.to_vec();
        for c in 0..channels {
            let plane = &src[c * height * width..(c + 1) * height * width];
            for y in 0..height {
                for x in 0..width {
                    // Output pixel (y, x) reads the padded image at (y + p + dy, x + p + dx),
                    // i.e. the original at (y + dy, x' + dx) with x' flipped if asked.
                    let xs = if flip { width - 1 - x } else { x };
                    let sy = y as isize + dy;
                    let sx = xs as isize + dx;
                    let v = if sy >= 0 && sx >= 0 && (sy as usize) < height && (sx as usize) < width
                    {
                        plane[sy as usize * width + sx as usize]
                    } else {
                        0
                    };
                    image[c * height * width + y * width + x] = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_seeded_and_permutations_are_permutations() {
        let a: Vec<u64> = (0..5)
            .scan(SplitMix64::new(7), |g, _| Some(g.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .scan(SplitMix64::new(7), |g, _| Some(g.next_u64()))
            .collect();
        let c: Vec<u64> = (0..5)
            .scan(SplitMix64::new(8), |g, _| Some(g.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut p = SplitMix64::stream(1, 2).permutation(100);
        assert_ne!(p, (0..100).collect::<Vec<_>>());
        p.sort_unstable();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn zero_padding_no_flip_is_identity() {
        let img: Vec<u8> = (0..2 * 4 * 5).map(|i| i as u8).collect();
        let mut out = img.clone();
        Augmentation {
            padding: 0,
            flip: false,
        }
        .apply(&mut out, 2, 4, 5, &mut SplitMix64::new(3));
        assert_eq!(out, img);
    }

    #[test]
    fn crops_are_shifts_and_flips_are_mirrors() {
        // A 1×3×3 image; every augmented result must be a mirror and/or shift of it with
        // zeros filling in, and over many draws all 2·(2p+1)² variants appear.
        let img: Vec<u8> = (1..=9).collect();
        let aug = Augmentation {
            padding: 1,
            flip: true,
        };
        let mut rng = SplitMix64::new(11);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let mut out = img.clone();
            aug.apply(&mut out, 1, 3, 3, &mut rng);
            // Find the (flip, dy, dx) that explains it.
            let explained = (0..2).any(|f| {
                (-1isize..=1).any(|dy| {
                    (-1isize..=1).any(|dx| {
                        let ok = (0..3).all(|y| {
                            (0..3).all(|x| {
                                let xs = if f == 1 { 2 - x } else { x } as isize + dx;
                                let ys = y as isize + dy;
                                let v = if (0..3).contains(&ys) && (0..3).contains(&xs) {
                                    img[(ys * 3 + xs) as usize]
                                } else {
                                    0
                                };
                                out[(y * 3 + x) as usize] == v
                            })
                        });
                        if ok {
                            seen.insert((f, dy, dx));
                        }
                        ok
                    })
                })
            });
            assert!(explained, "{out:?} is not a crop/flip of {img:?}");
        }
        assert_eq!(seen.len(), 18);
    }
}
