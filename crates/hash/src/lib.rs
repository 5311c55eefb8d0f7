//! Spoor's hashing core: pixels in, PDQ hashes out; bytes in, MD5/SHA digests out.
//!
//! Pure computation: no files, no threads, no logging, no allocation beyond a few rows of the
//! image being hashed. Builds for `wasm32-unknown-unknown` so that the same code can run in a
//! victim's browser.
//!
//! ```
//! use spoor_hash::pdq::{pdq, Pixels, PixelLayout};
//! // A 64×64 horizontal gradient.
//! let px: Vec<u8> = (0..64 * 64).map(|i| (i % 64 * 4) as u8).collect();
//! let p = pdq(Pixels::new(&px, 64, 64, PixelLayout::Gray8).unwrap());
//! assert!(p.quality > 0);
//! assert_eq!(p.hash.to_string().len(), 64);
//!
//! let d = spoor_hash::digest::Digests::of(b"abc");
//! assert_eq!(d.md5.to_string(), "900150983cd24fb0d6963f7d28e17f72");
//! ```

pub mod digest;
pub mod pdq;
