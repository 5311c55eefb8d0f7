//! Cryptographic digests of file bytes: MD5, SHA-1 and SHA-256 (RustCrypto implementations).
//!
//! [`Hasher`] takes the bytes in pieces, so a caller can digest a file while it streams.

use md5::Digest as _;
use spoor_core::{Md5, Sha1, Sha256};

/// Which digests to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Which {
    /// MD5.
    pub md5: bool,
    /// SHA-1.
    pub sha1: bool,
    /// SHA-256.
    pub sha256: bool,
}

impl Which {
    /// All three digests.
    pub const ALL: Which = Which { md5: true, sha1: true, sha256: true };
}

/// The three digests of one byte string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digests {
    /// MD5 digest.
    pub md5: Md5,
    /// SHA-1 digest.
    pub sha1: Sha1,
    /// SHA-256 digest.
    pub sha256: Sha256,
}

impl Digests {
    /// All three digests of `bytes`.
    pub fn of(bytes: &[u8]) -> Digests {
        let mut h = Hasher::new(Which::ALL);
        h.update(bytes);
        let (md5, sha1, sha256) = h.finish();
        Digests {
            md5: md5.unwrap_or(Md5([0; 16])),
            sha1: sha1.unwrap_or(Sha1([0; 20])),
            sha256: sha256.unwrap_or(Sha256([0; 32])),
        }
    }
}

/// Incremental computation of the selected digests.
#[derive(Clone, Default)]
pub struct Hasher {
    md5: Option<md5::Md5>,
    sha1: Option<sha1::Sha1>,
    sha256: Option<sha2::Sha256>,
}

impl Hasher {
    /// A hasher for the digests in `which`.
    pub fn new(which: Which) -> Self {
        Hasher {
            md5: which.md5.then(md5::Md5::new),
            sha1: which.sha1.then(sha1::Sha1::new),
            sha256: which.sha256.then(sha2::Sha256::new),
        }
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.md5 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(bytes);
        }
    }

    /// The selected digests of everything fed.
    pub fn finish(self) -> (Option<Md5>, Option<Sha1>, Option<Sha256>) {
        (
            self.md5.map(|h| Md5(h.finalize().into())),
            self.sha1.map(|h| Sha1(h.finalize().into())),
            self.sha256.map(|h| Sha256(h.finalize().into())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        let d = Digests::of(b"");
        assert_eq!(d.md5.to_string(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(d.sha1.to_string(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            d.sha256.to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let d = Digests::of(b"abc");
        assert_eq!(d.sha1.to_string(), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            d.sha256.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn pieces_equal_whole() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut h = Hasher::new(Which::ALL);
        for chunk in data.chunks(777) {
            h.update(chunk);
        }
        let (m, s1, s2) = h.finish();
        let whole = Digests::of(&data);
        assert_eq!((m.unwrap(), s1.unwrap(), s2.unwrap()), (whole.md5, whole.sha1, whole.sha256));
        let (m, s1, s2) = Hasher::new(Which { md5: true, sha1: false, sha256: false }).finish();
        assert!(m.is_some() && s1.is_none() && s2.is_none());
    }
}
