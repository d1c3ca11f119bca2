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

/// The words of the key of every `stream_rng(seed, ·)` (the 32-byte ChaCha8 key that
/// `seed_from_u64` expands `seed` to, little-endian words).
pub fn stream_key(seed: u64) -> [u32; 8] {
    let bytes = ChaCha8Rng::seed_from_u64(seed).get_seed();
    let mut key = [0u32; 8];
    for (k, c) in key.iter_mut().zip(bytes.chunks_exact(4)) {
        *k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    key
}

/// Sixteen ChaCha8 blocks per refill on AVX-512 lanes: the same word stream as
/// `stream_rng(seed, stream)` (ChaCha8 with a 64-bit block counter from 0 and the stream number
/// as 64-bit nonce, words read in order and pairs of them little-endian first for a `u64`, as
/// `rand_core`'s block buffer reads them; tested against `rand_chacha` word for word), for the
/// hot per-item streams that draw a few hundred words each (midpoint pairs): one wide refill
/// per item instead of several four-block ones. Only built where [`WideStream::available`].
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct WideStream {
    key: [u32; 8],
    stream: u64,
    /// The next block to generate.
    block: u64,
    /// Sixteen blocks, word-major: word w of block b at `buf[16·w + b]`.
    buf: [u32; 256],
    /// The next word of the buffer in stream order (256: empty).
    next: usize,
}

impl WideStream {
    /// Whether this CPU and build run it (AVX-512F, Rust ≥ 1.89).
    pub(crate) fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            crate::avx512_available()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Stream `stream` under the key of [`stream_key`]; call only where [`WideStream::available`].
    pub(crate) fn new(key: &[u32; 8], stream: u64) -> Self {
        WideStream {
            key: *key,
            stream,
            block: 0,
            buf: [0; 256],
            next: 256,
        }
    }

    #[inline]
    fn word(&mut self) -> u32 {
        if self.next >= 256 {
            self.refill();
        }
        let n = self.next;
        self.next += 1;
        self.buf[(n % 16) * 16 + n / 16]
    }

    fn refill(&mut self) {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::avx512_available() {
                // SAFETY: the CPU supports the feature the function was compiled for.
                unsafe { chacha8_x16(&self.key, self.block, self.stream, &mut self.buf) };
                self.block = self.block.wrapping_add(16);
                self.next = 0;
                return;
            }
        }
        // never constructed without AVX-512 (see `available`); a valid if different stream
        // rather than a panic
        self.buf = [0; 256];
        self.next = 0;
    }
}

impl rand::RngCore for WideStream {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        self.word()
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let lo = self.word() as u64;
        let hi = self.word() as u64;
        (hi << 32) | lo
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(4) {
            let w = self.word().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }
}

/// ChaCha8 blocks `block..block + 16` of stream `stream` under `key`, word-major into `out`
/// (word w of block `block + b` at `out[16·w + b]`): the ChaCha state (constants, key, 64-bit
/// counter, 64-bit nonce) of block b in lane b, four double rounds, the input added.
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chacha8_x16(key: &[u32; 8], block: u64, stream: u64, out: &mut [u32; 256]) {
    use std::arch::x86_64::*;
    let (mut lo, mut hi) = ([0u32; 16], [0u32; 16]);
    for b in 0..16 {
        let p = block.wrapping_add(b as u64);
        lo[b] = p as u32;
        hi[b] = (p >> 32) as u32;
    }
    let splat = |v: u32| _mm512_set1_epi32(v as i32);
    let consts = [0x6170_7865u32, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
    let mut x = [_mm512_setzero_si512(); 16];
    for i in 0..4 {
        x[i] = splat(consts[i]);
    }
    for i in 0..8 {
        x[4 + i] = splat(key[i]);
    }
    // SAFETY: 16 u32 each, unaligned loads
    x[12] = unsafe { _mm512_loadu_si512(lo.as_ptr().cast()) };
    x[13] = unsafe { _mm512_loadu_si512(hi.as_ptr().cast()) };
    x[14] = splat(stream as u32);
    x[15] = splat((stream >> 32) as u32);
    let init = x;
    macro_rules! qr {
        ($a:expr, $b:expr, $c:expr, $d:expr) => {
            x[$a] = _mm512_add_epi32(x[$a], x[$b]);
            x[$d] = _mm512_rol_epi32::<16>(_mm512_xor_si512(x[$d], x[$a]));
            x[$c] = _mm512_add_epi32(x[$c], x[$d]);
            x[$b] = _mm512_rol_epi32::<12>(_mm512_xor_si512(x[$b], x[$c]));
            x[$a] = _mm512_add_epi32(x[$a], x[$b]);
            x[$d] = _mm512_rol_epi32::<8>(_mm512_xor_si512(x[$d], x[$a]));
            x[$c] = _mm512_add_epi32(x[$c], x[$d]);
            x[$b] = _mm512_rol_epi32::<7>(_mm512_xor_si512(x[$b], x[$c]));
        };
    }
    for _ in 0..4 {
        qr!(0, 4, 8, 12);
        qr!(1, 5, 9, 13);
        qr!(2, 6, 10, 14);
        qr!(3, 7, 11, 15);
        qr!(0, 5, 10, 15);
        qr!(1, 6, 11, 12);
        qr!(2, 7, 8, 13);
        qr!(3, 4, 9, 14);
    }
    for (w, (xv, iv)) in x.iter().zip(init.iter()).enumerate() {
        let v = _mm512_add_epi32(*xv, *iv);
        // SAFETY: out holds 256 words; words 16·w..16·w + 16, unaligned store
        unsafe { _mm512_storeu_si512(out[16 * w..].as_mut_ptr().cast(), v) };
    }
}

/// Never called before Rust 1.89 ([`crate::avx512_available`] is false there).
#[rustversion::before(1.89)]
#[cfg(target_arch = "x86_64")]
unsafe fn chacha8_x16(_key: &[u32; 8], _block: u64, _stream: u64, out: &mut [u32; 256]) {
    *out = [0; 256];
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
    fn the_wide_stream_is_rand_chachas_word_for_word() {
        use rand::RngCore;
        use rand_distr::{Distribution, StandardNormal};
        if !WideStream::available() {
            return;
        }
        for (seed, stream) in [
            (0u64, 0u64),
            (1, 7),
            (42, 123_456_789),
            (7, u64::MAX),
            (3, 1 << 40),
        ] {
            let key = stream_key(seed);
            // words, u64s and normal draws over several refills of either buffer
            let (mut a, mut b) = (stream_rng(seed, stream), WideStream::new(&key, stream));
            for i in 0..1500 {
                if i % 3 == 0 {
                    assert_eq!(
                        a.next_u32(),
                        b.next_u32(),
                        "seed {seed} stream {stream} word {i}"
                    );
                } else {
                    assert_eq!(
                        a.next_u64(),
                        b.next_u64(),
                        "seed {seed} stream {stream} u64 {i}"
                    );
                }
            }
            let (mut a, mut b) = (stream_rng(seed, stream), WideStream::new(&key, stream));
            for _ in 0..2000 {
                let (x, y): (f64, f64) =
                    (StandardNormal.sample(&mut a), StandardNormal.sample(&mut b));
                assert_eq!(x.to_bits(), y.to_bits());
            }
            let (mut a, mut b) = (stream_rng(seed, stream), WideStream::new(&key, stream));
            let (mut x, mut y) = ([0u8; 1031], [0u8; 1031]);
            a.fill_bytes(&mut x[..7]);
            b.fill_bytes(&mut y[..7]);
            a.fill_bytes(&mut x[7..]);
            b.fill_bytes(&mut y[7..]);
            assert_eq!(x, y);
            assert_eq!(a.next_u64(), b.next_u64());
        }
        // the block counter carries into its high word
        let key = stream_key(9);
        let mut a = stream_rng(9, 5);
        a.set_word_pos(((1u128 << 32) - 3) * 16);
        let mut b = WideStream::new(&key, 5);
        b.block = (1u64 << 32) - 3;
        for _ in 0..200 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: f64 = stream_rng(7, 3).random();
        let b: f64 = stream_rng(7, 3).random();
        let c: f64 = stream_rng(7, 4).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
