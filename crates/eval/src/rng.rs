//! A small deterministic generator (SplitMix64): the same seed gives the same copies and the
//! same generated images on every machine. Not for anything secret.

/// SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator for one item: `seed` mixed with the item's bytes (e.g. its content digest),
    /// so an item's randomness does not depend on the order items are given in.
    pub fn for_item(seed: u64, item: &[u8]) -> Rng {
        let mut r = Rng(seed ^ 0x5b0a_77c1_3e9d_24f1);
        for chunk in item.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            r.0 ^= u64::from_le_bytes(b);
            r.next_u64();
        }
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n.max(1))) >> 32) as u32
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_fixed_and_below_stays_below() {
        // SplitMix64's published first output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
        let mut r = Rng::new(7);
        for n in [1, 2, 3, 10, 1000, u32::MAX] {
            for _ in 0..100 {
                assert!(r.below(n) < n);
                let u = r.unit();
                assert!((0.0..1.0).contains(&u));
            }
        }
        assert_ne!(Rng::for_item(1, b"a").next_u64(), Rng::for_item(1, b"b").next_u64());
        assert_ne!(Rng::for_item(1, b"a").next_u64(), Rng::for_item(2, b"a").next_u64());
    }
}
