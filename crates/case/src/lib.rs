//! The pure parts of case review, on the acting side of Spoor: the media vault and the
//! renditions a reviewer is shown.
//!
//! When a match needs a human, the media it was made from has to be kept until the case is
//! decided, and a reviewer has to see something of it. This crate holds the parts of that which
//! need no storage and no HTTP, so that they can be tested on their own:
//!
//! * [`vault`]: media held for review, sealed with XChaCha20-Poly1305 under a [`MediaKey`] kept
//!   in its own file, one file per piece of media, bound to its [`MediaId`].
//! * [`rendition`]: the picture a reviewer is shown: decoded, shrunk, greyscale unless asked,
//!   blurred ([`BlurLevel::STRONGEST`] unless asked), and encoded afresh as PNG; for videos, a
//!   grid of frames.
//!
//! Invariants:
//!
//! * No media in clear is ever written to disk: the vault seals in memory and writes only the
//!   sealed bytes (`vault::tests::stored_file_holds_no_window_of_the_plaintext`). A blob opens
//!   only under its key and its id; anything else is an error that says which
//!   (`a_flipped_byte_anywhere_is_damaged`, `a_blob_moved_to_another_id_does_not_open`,
//!   `a_blob_sealed_with_another_key_is_wrong_key`).
//! * A rendition is never larger than asked (`max_side`, twice that for a grid of frames) and is
//!   never the original bytes: it is always a PNG encoded here from decoded pixels, with none of
//!   the original's metadata (`tests/rendition.rs`).
//!
//! The cases, their states and their audit belong to the crates that store them.

#![forbid(unsafe_code)]

pub mod rendition;
pub mod vault;

pub use rendition::{render_frames, render_image, BlurLevel, Rendition, RenditionError, View};
pub use vault::{KeyError, MediaId, MediaKey, ParseMediaIdError, Vault, VaultError};
