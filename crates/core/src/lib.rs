//! Spoor's shared vocabulary: the hash values every other crate passes around.
//!
//! * [`Hash256`]: a 256-bit perceptual hash (PDQ), printed as 64 hex digits, most significant
//!   first, exactly as Meta's reference tools print it; [`Hash256::distance`] is the Hamming
//!   distance used for matching.
//! * [`Md5`], [`Sha1`], [`Sha256`]: cryptographic digests of file bytes, matched exactly.
//!
//! Parsing is strict: a value of the wrong length or with a non-hex character is an error that
//! says which, never a silently truncated or padded hash.
//!
//! ```
//! use spoor_core::Hash256;
//! let a: Hash256 = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22".parse().unwrap();
//! let b: Hash256 = "f8f8f0cee0f4a84f06370a2a038f63f0b36e26d596621e1d33e6b39c4e9c9b22".parse().unwrap();
//! assert_eq!(a.distance(&b), 2);
//! assert_eq!(a.to_string(), "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22");
//! ```
//!
//! * [`SignalType`]: the kinds of signal a bank can hold, each with its canonical bytes, text
//!   form and distance; [`vpdq`]: a video's vPDQ text form.
//!
//! * [`ratio::wilson`]: the 95 % interval of an observed proportion (error rates, recall).
//!
//! This crate knows nothing of images, files, storage or wire formats.

use std::fmt;
use std::str::FromStr;

pub mod ratio;
pub mod signal;
pub mod vpdq;

pub use signal::{SignalError, SignalType, ALL_SIGNAL_TYPES};

/// Why a hex string is not a valid hash of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseHashError {
    /// The string has the wrong number of characters.
    #[error("expected {expected} hex digits for a {kind} hash, found {found} characters")]
    WrongLength {
        /// What kind of hash was expected (`pdq`, `md5`, …).
        kind: &'static str,
        /// The number of hex digits that kind has.
        expected: usize,
        /// The number of characters given.
        found: usize,
    },
    /// A character is not a hex digit.
    #[error("invalid character {found:?} at position {position} of a {kind} hash: only 0-9, a-f and A-F are hex digits")]
    InvalidDigit {
        /// What kind of hash was expected.
        kind: &'static str,
        /// 1-based position of the bad character.
        position: usize,
        /// The bad character.
        found: char,
    },
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes `s` as exactly `N` bytes of hex (2·N digits, either case).
pub fn parse_hex<const N: usize>(s: &str, kind: &'static str) -> Result<[u8; N], ParseHashError> {
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return Err(ParseHashError::WrongLength {
            kind,
            expected: 2 * N,
            found: s.chars().count(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let mut v = 0u8;
        for (k, &c) in pair.iter().enumerate() {
            let d = hex_value(c).ok_or_else(|| {
                // Bytes are checked in order, so the first bad byte always starts a
                // character (continuation bytes of a multi-byte character come after it).
                let position = 2 * i + k;
                let found = s[position..].chars().next().unwrap_or('?');
                ParseHashError::InvalidDigit {
                    kind,
                    position: s[..position].chars().count() + 1,
                    found,
                }
            })?;
            v = (v << 4) | d;
        }
        out[i] = v;
    }
    Ok(out)
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    let mut buf = [0u8; 128];
    let n = bytes.len() * 2;
    for (i, b) in bytes.iter().enumerate() {
        buf[2 * i] = HEX_DIGITS[(b >> 4) as usize];
        buf[2 * i + 1] = HEX_DIGITS[(b & 15) as usize];
    }
    // Only ASCII hex digits were written.
    f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
}

/// A 256-bit perceptual hash such as PDQ.
///
/// Bit `k` (0..256) is bit `k` of the 256-bit number the hex form spells, so bit 255 is the
/// high bit of the first hex digit. The PDQ algorithm sets bit `16·i + j` for DCT coefficient
/// `(i, j)`. Stored as four 64-bit words, most significant first.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash256 {
    words: [u64; 4],
}

impl Hash256 {
    /// The all-zero hash (what PDQ gives an image too small to hash).
    pub const ZERO: Hash256 = Hash256 { words: [0; 4] };

    /// Builds a hash from four 64-bit words, most significant first.
    pub const fn from_words(words: [u64; 4]) -> Self {
        Hash256 { words }
    }

    /// The four 64-bit words, most significant first.
    pub const fn words(&self) -> [u64; 4] {
        self.words
    }

    /// Builds a hash from 32 bytes, most significant first (the order of the hex form).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut words = [0u64; 4];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_be_bytes(b);
        }
        Hash256 { words }
    }

    /// The 32 bytes, most significant first.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, w) in out.chunks_exact_mut(8).zip(self.words) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// Whether bit `k` (0..256) is set.
    pub fn bit(&self, k: usize) -> bool {
        assert!(k < 256, "bit index {k} out of range 0..256");
        self.words[3 - k / 64] >> (k % 64) & 1 == 1
    }

    /// Sets bit `k` (0..256).
    pub fn set_bit(&mut self, k: usize) {
        assert!(k < 256, "bit index {k} out of range 0..256");
        self.words[3 - k / 64] |= 1 << (k % 64);
    }

    /// Flips bit `k` (0..256).
    pub fn flip_bit(&mut self, k: usize) {
        assert!(k < 256, "bit index {k} out of range 0..256");
        self.words[3 - k / 64] ^= 1 << (k % 64);
    }

    /// Hamming distance: the number of bits in which the two hashes differ (0..=256).
    #[inline]
    pub fn distance(&self, other: &Hash256) -> u32 {
        (self.words[0] ^ other.words[0]).count_ones()
            + (self.words[1] ^ other.words[1]).count_ones()
            + (self.words[2] ^ other.words[2]).count_ones()
            + (self.words[3] ^ other.words[3]).count_ones()
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.to_bytes())
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash256({self})")
    }
}

impl FromStr for Hash256 {
    type Err = ParseHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex::<32>(s, "pdq").map(Hash256::from_bytes)
    }
}

macro_rules! digest_type {
    ($(#[$doc:meta])* $name:ident, $n:expr, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $n]);

        impl $name {
            /// The digest's length in bytes.
            pub const LEN: usize = $n;
            /// The signal type name used on the wire and in banks.
            pub const KIND: &'static str = $kind;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = ParseHashError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex::<$n>(s, $kind).map($name)
            }
        }
    };
}

digest_type!(
    /// An MD5 digest (16 bytes), printed as 32 hex digits.
    Md5, 16, "md5"
);
digest_type!(
    /// A SHA-1 digest (20 bytes), printed as 40 hex digits.
    Sha1, 20, "sha1"
);
digest_type!(
    /// A SHA-256 digest (32 bytes), printed as 64 hex digits.
    Sha256, 32, "sha256"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

    #[test]
    fn hex_round_trip_and_case() {
        let h: Hash256 = H.parse().unwrap();
        assert_eq!(h.to_string(), H);
        let upper: Hash256 = H.to_uppercase().parse().unwrap();
        assert_eq!(upper, h);
    }

    #[test]
    fn bit_numbering_matches_reference() {
        // The reference sets bit k in 16-bit word k/16 and prints words 15..0:
        // bit 0 is the low bit of the last hex digit, bit 255 the high bit of the first.
        let mut h = Hash256::ZERO;
        h.set_bit(0);
        assert_eq!(h.to_string(), format!("{}1", "0".repeat(63)));
        let mut h = Hash256::ZERO;
        h.set_bit(255);
        assert_eq!(h.to_string(), format!("8{}", "0".repeat(63)));
        let mut h = Hash256::ZERO;
        h.set_bit(16 + 4);
        assert_eq!(h.to_string(), format!("{}00100000", "0".repeat(56)));
        assert!(h.bit(20) && !h.bit(21));
    }

    #[test]
    fn wrong_length_is_a_clear_error() {
        let e = H[..63].parse::<Hash256>().unwrap_err();
        assert_eq!(e, ParseHashError::WrongLength { kind: "pdq", expected: 64, found: 63 });
        assert!(e.to_string().contains("expected 64 hex digits"));
        assert!(format!("{H}0").parse::<Hash256>().is_err());
        assert!("".parse::<Hash256>().is_err());
    }

    #[test]
    fn non_hex_is_a_clear_error() {
        let mut s = H.to_string();
        s.replace_range(10..11, "g");
        let e = s.parse::<Hash256>().unwrap_err();
        assert_eq!(e, ParseHashError::InvalidDigit { kind: "pdq", position: 11, found: 'g' });
        let e = format!("{} ", &H[..63]).parse::<Hash256>().unwrap_err();
        assert!(matches!(e, ParseHashError::InvalidDigit { position: 64, found: ' ', .. }));
        // Multi-byte characters are reported as characters, not bytes, and never panic.
        let e = format!("é{}", &H[..62]).parse::<Hash256>().unwrap_err();
        assert!(matches!(e, ParseHashError::InvalidDigit { position: 1, found: 'é', .. }), "{e:?}");
        let e = format!("{}é", &H[..61]).parse::<Hash256>().unwrap_err();
        assert!(
            matches!(e, ParseHashError::WrongLength { found: 62, .. })
                || matches!(e, ParseHashError::InvalidDigit { position: 62, found: 'é', .. }),
            "{e:?}"
        );
    }

    #[test]
    fn digests_parse_and_print() {
        let md5: Md5 = "d41d8cd98f00b204e9800998ecf8427e".parse().unwrap();
        assert_eq!(md5.to_string(), "d41d8cd98f00b204e9800998ecf8427e");
        assert!("d41d8cd98f00b204e9800998ecf8427".parse::<Md5>().is_err());
        assert!("da39a3ee5e6b4b0d3255bfef95601890afd80709".parse::<Sha1>().is_ok());
        let e = "da39a3ee".parse::<Sha256>().unwrap_err();
        assert!(e.to_string().contains("sha256"));
    }

    proptest! {
        #[test]
        fn distance_is_popcount_of_xor(a in any::<[u64; 4]>(), b in any::<[u64; 4]>()) {
            let (x, y) = (Hash256::from_words(a), Hash256::from_words(b));
            let naive = (0..256).filter(|&k| x.bit(k) != y.bit(k)).count() as u32;
            prop_assert_eq!(x.distance(&y), naive);
            prop_assert_eq!(x.distance(&x), 0);
            let parsed: Hash256 = x.to_string().parse().unwrap();
            prop_assert_eq!(parsed, x);
            prop_assert_eq!(Hash256::from_bytes(x.to_bytes()), x);
        }

        #[test]
        fn parsing_arbitrary_strings_never_panics(s in ".{0,80}") {
            let _ = s.parse::<Hash256>();
            let _ = s.parse::<Md5>();
        }
    }
}
