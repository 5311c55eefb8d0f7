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
//! * [`keyframes`]: the few frames of a video kept (shrunk, sealed in the vault next to the
//!   video) when it is hashed, so that its rendition never needs the video decoded again.
//!
//! Invariants, each backed by a named test:
//!
//! * No media in clear is ever written to disk: the vault seals in memory and writes only the
//!   sealed bytes (`vault::tests::stored_file_holds_no_window_of_the_plaintext`). A blob opens
//!   only under its key and its id; anything else is an error that says which
//!   (`a_flipped_byte_anywhere_is_damaged`, `a_truncated_blob_is_damaged`,
//!   `a_blob_moved_to_another_id_does_not_open`, `a_blob_sealed_with_another_key_is_wrong_key`).
//! * The key never shows: its `Debug` form and its id reveal nothing of it
//!   (`key_debug_and_id_reveal_nothing`), and a key file open to others is refused
//!   (`key_file_errors_are_clear`).
//! * A rendition is never larger than asked (`max_side`, twice that for a grid of frames) and is
//!   never the original bytes: it is always a PNG encoded here from decoded pixels, with none of
//!   the original's metadata (`tests/rendition.rs`: `a_colourful_image_is_shown_small_grey_and_blurred`,
//!   `frames_are_laid_out_in_a_bounded_grid`, `metadata_and_original_bytes_never_pass_through`).
//! * No input makes a rendition panic (`any_bytes_never_panic`, `damaged_images_never_panic`).
//!
//! The cases, their states and their audit belong to the crates that store them.

pub mod keyframes;
pub mod rendition;
pub mod vault;

pub use keyframes::{KeyFrame, KeyFrameError, KeyFramePicker};

pub use rendition::{render_frames, render_image, BlurLevel, Rendition, RenditionError, View};
pub use vault::{KeyError, MediaId, MediaKey, ParseMediaIdError, Vault, VaultError};
