//! A random generator bit-compatible with NumPy's legacy `RandomState`.
//!
//! `np.random.seed(s); np.random.randn(...)` is reproduced exactly:
//!
//! * **MT19937**, seeded as NumPy's `mt19937_seed` does for an integer seed
//!   `s ∈ [0, 2³²)`: `key[0] = s`, `key[i] = 1812433253·(key[i−1] ⊕ (key[i−1] ≫ 30)) + i`
//!   (mod 2³²), i.e. Matsumoto & Nishimura's `init_genrand`.
//! * **Doubles** in `[0, 1)` from two 32-bit outputs `a`, `b`:
//!   `((a ≫ 5)·2²⁶ + (b ≫ 6)) / 2⁵³` (53 random bits).
//! * **Gaussians** by the legacy polar Box–Muller method: draw `x₁, x₂ = 2u − 1`
//!   until `0 < r² = x₁² + x₂² < 1`, let `f = √(−2 ln r² / r²)`, return `f·x₂` and
//!   keep `f·x₁` for the next call (NumPy's `has_gauss` cache, which survives across
//!   `randn` calls).
//!
//! Bit-exactness relies on `ln` being the platform's `log` (Rust's `f64::ln` calls the
//! system libm, as NumPy does); on glibc this is the same function NumPy calls.
//! `tests/rng_numpy.rs` compares the f64 bits against a NumPy-made fixture. Port authors:
//! `docs/generator.md` spells the algorithm out, and `backprop-oracle rng` prints the draws.

use ndarray::Array2;

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// NumPy's legacy `RandomState`: MT19937 plus the cached polar Box–Muller normal.
#[derive(Clone)]
pub struct RandomState {
    key: [u32; N],
    pos: usize,
    gauss: Option<f64>,
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState")
            .field("pos", &self.pos)
            .field("gauss", &self.gauss)
            .finish_non_exhaustive()
    }
}

impl RandomState {
    /// The state after `np.random.seed(seed)`.
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; N];
        key[0] = seed;
        for i in 1..N {
            let prev = key[i - 1];
            key[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        RandomState {
            key,
            pos: N,
            gauss: None,
        }
    }

    /// Regenerates the 624-word block (the "twist").
    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.key[i] & UPPER_MASK) | (self.key[(i + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.key[i] = self.key[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// The next tempered 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.twist();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `np.random.random_sample()`: a double in `[0, 1)` with 53 random bits.
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// One standard normal draw, `np.random.randn()` (legacy polar method).
    pub fn gauss(&mut self) -> f64 {
        if let Some(g) = self.gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.random_sample() - 1.0;
            let x2 = 2.0 * self.random_sample() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if polar_accepts(r2) {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// `np.random.randn(rows, cols)`: filled in C (row-major) order.
    pub fn randn(&mut self, rows: usize, cols: usize) -> Array2<f64> {
        Array2::from_shape_simple_fn((rows, cols), || self.gauss())
    }
}

/// The polar method's acceptance test: a point `(x₁, x₂)` with `r² = x₁² + x₂²` is used
/// when `0 < r² < 1` (NumPy rejects `r² ≥ 1` and `r² = 0`).
#[inline]
fn polar_accepts(r2: f64) -> bool {
    r2 < 1.0 && r2 != 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polar_acceptance_excludes_both_boundaries() {
        assert!(
            polar_accepts(0.5)
                && polar_accepts(f64::MIN_POSITIVE)
                && polar_accepts(1.0 - f64::EPSILON / 2.0)
        );
        assert!(!polar_accepts(1.0) && !polar_accepts(0.0) && !polar_accepts(1.5));
    }

    #[test]
    fn seeding_matches_init_genrand_for_the_first_words() {
        // init_genrand(5489), the reference MT19937 default seed. key[1] by hand:
        // python3 -c "print((1812433253 * (5489 ^ (5489 >> 30)) + 1) % 2**32)" → 1301868182.
        let rng = RandomState::new(5489);
        assert_eq!(rng.key[0], 5489);
        assert_eq!(rng.key[1], 1_301_868_182);
    }
}
