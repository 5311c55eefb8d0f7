//! HMA's coin flip. A lookup on HMA's routes consults the banks whose `matching_enabled_ratio`
//! is at least a coin drawn for it: `random.Random(seed).random()` in HMA (CPython 3), where
//! `seed` is the lookup's `seed` parameter, or the system's randomness when there is none.
//!
//! With a seed the coin is CPython's, to the bit, so that the same seed consults the same banks
//! on Spoor and on HMA (a client that seeds with its content id keeps one answer per item after
//! it switches): CPython seeds a string by taking its UTF-8 bytes followed by their SHA-512 as
//! one big-endian integer, keys MT19937 with that integer's 32-bit words, least significant
//! first (`init_by_array`), and makes a double in [0, 1) from two outputs (27 and 26 bits).

use rand_mt::Mt;
use sha2::{Digest, Sha512};

/// The coin for a lookup: CPython's `random.Random(seed).random()`, or a random coin in [0, 1)
/// without a seed.
pub fn flip(seed: Option<&str>) -> f64 {
    match seed {
        Some(s) => seeded(s),
        None => unseeded(),
    }
}

/// CPython's `random.Random(seed).random()` for a string seed.
pub fn seeded(seed: &str) -> f64 {
    let mut mt = Mt::new_with_key(key(seed.as_bytes()));
    let a = mt.next_u32() >> 5;
    let b = mt.next_u32() >> 6;
    unit(a, b)
}

/// A coin from the system's randomness (as HMA's unseeded `random.Random()`).
fn unseeded() -> f64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => {
            let x = u64::from_le_bytes(bytes);
            unit((x >> 37) as u32, ((x >> 5) & 0x3ff_ffff) as u32)
        }
        // Without randomness every lookup consults every bank with a ratio above 0: a bank is
        // consulted more often than asked, never less.
        Err(_) => 0.0,
    }
}

/// CPython's `random()`: `(a·2²⁶ + b) / 2⁵³` from a 27-bit `a` and a 26-bit `b`.
fn unit(a: u32, b: u32) -> f64 {
    (f64::from(a) * 67_108_864.0 + f64::from(b)) * (1.0 / 9_007_199_254_740_992.0)
}

/// The MT19937 key CPython derives from a string seed: the integer whose big-endian bytes are
/// the seed followed by its SHA-512, as 32-bit words, least significant first, without the
/// words above its highest set bit (at least one word).
fn key(seed: &[u8]) -> Vec<u32> {
    let mut big_endian = seed.to_vec();
    big_endian.extend_from_slice(&Sha512::digest(seed));
    let mut le: Vec<u8> = big_endian.into_iter().rev().collect();
    while le.last() == Some(&0) {
        le.pop();
    }
    if le.is_empty() {
        return vec![0];
    }
    le.chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `python3 -c 'import random; print(repr(random.Random(S).random()))'` (CPython 3.11) for
    /// each seed S.
    const CPYTHON: &[(&str, f64)] = &[
        ("", 0.9602256525641875),
        ("abc", 0.7720246314157545),
        ("content-1", 0.07925192725878893),
        ("ü€", 0.49186220278461457),
        ("12345", 0.45697818440486826),
        ("\0\0\0\0\0", 0.7738443158939314),
    ];

    #[test]
    fn a_seeded_coin_is_cpythons_to_the_bit() {
        for &(seed, want) in CPYTHON {
            assert_eq!(seeded(seed).to_bits(), want.to_bits(), "seed {seed:?}");
            assert_eq!(flip(Some(seed)).to_bits(), want.to_bits(), "seed {seed:?}");
        }
        let long = "x".repeat(1000);
        assert_eq!(seeded(&long).to_bits(), 0.16324419727364425f64.to_bits(), "a 1000-byte seed");
    }

    #[test]
    fn unseeded_coins_lie_in_the_unit_interval_and_vary() {
        let coins: Vec<f64> = (0..64).map(|_| flip(None)).collect();
        assert!(coins.iter().all(|c| (0.0..1.0).contains(c)), "{coins:?}");
        let distinct: std::collections::HashSet<u64> = coins.iter().map(|c| c.to_bits()).collect();
        assert!(distinct.len() > 60, "64 coins gave only {} values", distinct.len());
    }

    #[test]
    fn the_key_drops_leading_zero_words_only() {
        // A seed of NUL bytes: the integer's top bytes are zero, the words below them stay.
        let k = key(&[0, 0, 0, 0, 0]);
        assert_eq!(k.len(), 16, "the SHA-512 alone: 64 bytes, 16 words");
        assert_eq!(key(b"a").len(), 17, "65 bytes: 17 words");
    }
}
