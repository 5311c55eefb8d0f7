//! Reading files in the two ways hashing needs: a first look at the head (to tell images from
//! videos by their bytes), then the rest streamed into the digests without holding it.

use std::io::{ErrorKind, Read, Result};

use spoor_hash::digest::Hasher;

/// Bytes read to recognise a file's format.
pub const HEAD: usize = 192;

/// Fills `buf` as far as the input goes; returns how many bytes were read.
pub fn read_head(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Feeds the rest of `r` to `h`, a megabyte at a time.
pub fn digest_rest(r: &mut impl Read, h: &mut Hasher) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether a file's head is a video container (and not an image format that looks like one).
pub fn is_video(head: &[u8]) -> bool {
    spoor_media::sniff(head).is_none() && spoor_media::video::is_video(head)
}
