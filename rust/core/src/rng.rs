//! Deterministic parallel randomness (the nuts-rs convention).
//!
//! One user seed drives everything. Work item `k` (a chunk of samples, a pair batch, ...) gets the
//! generator `ChaCha8Rng::seed_from_u64(seed)` with `set_stream(k)`, so every item's draws are the
//! same whatever thread runs it and however many threads there are.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator for work item `stream` under `seed`.
pub fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// A fresh seed from the OS, for `seed=None` (the caller records and reports it).
pub fn fresh_seed() -> u64 {
    use rand::TryRngCore;
    rand::rngs::OsRng.try_next_u64().unwrap_or_else(|_| {
        // Fall back on time if the OS source fails; still recorded by the caller.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed)
    })
}

/// Test builds: Knuth's MMIX linear congruential generator, the fixed pseudo-random source of
/// the unit tests (its sequence does not depend on the `rand` crate's version).
#[cfg(test)]
pub(crate) struct Lcg(pub(crate) u64);

#[cfg(test)]
impl Lcg {
    /// The next state.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }

    /// Uniform in [0, 1) from the top 53 bits of the next state.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: f64 = stream_rng(7, 3).random();
        let b: f64 = stream_rng(7, 3).random();
        let c: f64 = stream_rng(7, 4).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
