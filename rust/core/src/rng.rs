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
