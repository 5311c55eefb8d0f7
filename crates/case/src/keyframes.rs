//! Key frames of a video, kept for review so that a reviewer's picture of a video never needs
//! the video decoded again.
//!
//! While a video is hashed (vPDQ: about one frame a second), each hashed frame is offered to a
//! [`KeyFramePicker`], which keeps a bounded, evenly spaced set of them, each shrunk at once so
//! that its longer side is at most [`KEY_FRAME_SIDE`] pixels (area averaging, colour kept: the
//! reviewer may reveal colour). [`KeyFramePicker::finish`] chooses at most [`MAX_KEY_FRAMES`]
//! of them evenly, the first and the last hashed frame included. [`encode`] turns them into
//! bytes for the media vault (where they are sealed like the media, see
//! [`crate::Vault::put_all_with_frames`]); [`decode`] reads them back, checking every size, for
//! [`crate::render_frames`].
//!
//! ```
//! use spoor_case::keyframes::{decode, encode, KeyFramePicker, KEY_FRAME_SIDE, MAX_KEY_FRAMES};
//! let mut picker = KeyFramePicker::new();
//! for i in 0..100u8 {
//!     picker.offer(640, 480, &vec![i; 640 * 480 * 3]).unwrap();
//! }
//! let frames = picker.finish();
//! assert_eq!(frames.len(), MAX_KEY_FRAMES);
//! assert_eq!((frames[0].width, frames[0].height), (KEY_FRAME_SIDE, 240));
//! assert_eq!((frames[0].rgb[0], frames[15].rgb[0]), (0, 99), "the first and the last");
//! assert_eq!(decode(&encode(&frames)).unwrap(), frames);
//! ```

use crate::rendition::{shrink_rgb, MAX_FRAMES};

/// The longest side of a kept key frame, in pixels.
pub const KEY_FRAME_SIDE: u32 = 320;
/// The most key frames kept for a video (as many as a rendition shows).
pub const MAX_KEY_FRAMES: usize = MAX_FRAMES;
/// The first bytes of [`encode`]'s form.
const MAGIC: &[u8; 8] = b"SPOORKF1";

/// One kept frame: RGB pixels, row by row, its longer side at most [`KEY_FRAME_SIDE`].
#[derive(Clone, PartialEq, Eq)]
pub struct KeyFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 3` bytes of RGB.
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for KeyFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyFrame({}x{})", self.width, self.height)
    }
}

/// Why key frames could not be kept or read back.
#[derive(Debug, thiserror::Error)]
pub enum KeyFrameError {
    /// A frame's buffer does not fit its size.
    #[error("a {width}x{height} frame needs {expected} bytes of RGB, but {found} were given; pass whole RGB frames")]
    BadFrame {
        /// Its declared width.
        width: u32,
        /// Its declared height.
        height: u32,
        /// Bytes it should hold.
        expected: u128,
        /// Bytes it holds.
        found: usize,
    },
    /// Stored key frames are not in [`encode`]'s form.
    #[error("the stored key frames are damaged ({0}); the case's video cannot be shown")]
    Damaged(&'static str),
}

impl KeyFrame {
    /// The frame `rgb` (`width × height` RGB pixels) shrunk so that its longer side is at most
    /// [`KEY_FRAME_SIDE`] (never enlarged).
    pub fn shrunk(width: u32, height: u32, rgb: &[u8]) -> Result<KeyFrame, KeyFrameError> {
        let expected = u128::from(width) * u128::from(height) * 3;
        if width == 0 || height == 0 || expected != rgb.len() as u128 {
            return Err(KeyFrameError::BadFrame { width, height, expected, found: rgb.len() });
        }
        let (width, height, rgb) = shrink_rgb(rgb, width, height, KEY_FRAME_SIDE);
        Ok(KeyFrame { width, height, rgb })
    }
}

/// Which of `n` items to show when at most `max` may be shown: all of them when they are few
/// enough, else `max` indices spread evenly, the first and the last included, in order.
pub fn choose(n: usize, max: usize) -> Vec<usize> {
    match (n, max) {
        (0, _) | (_, 0) => Vec::new(),
        (n, max) if n <= max => (0..n).collect(),
        (_, 1) => vec![0],
        (n, max) => (0..max).map(|i| i * (n - 1) / (max - 1)).collect(),
    }
}

/// Keeps an evenly spaced set of the frames offered to it, in bounded memory however many are
/// offered: every `stride`-th frame (from the first), the stride doubling whenever more than
/// `2 × MAX_KEY_FRAMES` are kept, plus the newest frame, so the last one is never lost.
#[derive(Debug)]
pub struct KeyFramePicker {
    /// Frames offered so far.
    offered: u64,
    /// Every how many offered frames one is kept.
    stride: u64,
    /// The kept frames with their number among those offered.
    kept: Vec<(u64, KeyFrame)>,
    /// The newest frame offered, when it is not among `kept`.
    newest: Option<(u64, KeyFrame)>,
}

impl Default for KeyFramePicker {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyFramePicker {
    /// An empty picker.
    pub fn new() -> Self {
        KeyFramePicker { offered: 0, stride: 1, kept: Vec::new(), newest: None }
    }

    /// Offers the next frame (`width × height` RGB pixels); it is shrunk right away.
    pub fn offer(&mut self, width: u32, height: u32, rgb: &[u8]) -> Result<(), KeyFrameError> {
        let frame = KeyFrame::shrunk(width, height, rgb)?;
        let n = self.offered;
        self.offered += 1;
        if !n.is_multiple_of(self.stride) {
            self.newest = Some((n, frame));
            return Ok(());
        }
        self.newest = None;
        self.kept.push((n, frame));
        if self.kept.len() > 2 * MAX_KEY_FRAMES {
            self.stride *= 2;
            let stride = self.stride;
            let (n, frame) = self.kept.pop().expect("just pushed");
            self.kept.retain(|(k, _)| k.is_multiple_of(stride));
            if n.is_multiple_of(stride) {
                self.kept.push((n, frame));
            } else {
                self.newest = Some((n, frame));
            }
        }
        Ok(())
    }

    /// How many frames were offered.
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// At most [`MAX_KEY_FRAMES`] of the frames offered, chosen evenly from those kept, the
    /// first and the last offered included, in order.
    pub fn finish(self) -> Vec<KeyFrame> {
        self.finish_numbered().into_iter().map(|(_, f)| f).collect()
    }

    /// As [`KeyFramePicker::finish`], each frame with its number among those offered.
    fn finish_numbered(self) -> Vec<(u64, KeyFrame)> {
        let mut all = self.kept;
        all.extend(self.newest);
        let chosen = choose(all.len(), MAX_KEY_FRAMES);
        let mut out = Vec::with_capacity(chosen.len());
        let mut next = chosen.into_iter().peekable();
        for (i, item) in all.into_iter().enumerate() {
            if next.peek() == Some(&i) {
                next.next();
                out.push(item);
            }
        }
        out
    }
}

/// Key frames as bytes: `SPOORKF1`, the number of frames (one byte), then for each its width
/// and height (4 bytes each, big-endian) and its RGB bytes.
pub fn encode(frames: &[KeyFrame]) -> Vec<u8> {
    let len: usize = frames.iter().map(|f| 8 + f.rgb.len()).sum();
    let mut out = Vec::with_capacity(MAGIC.len() + 1 + len);
    out.extend_from_slice(MAGIC);
    out.push(frames.len().min(MAX_KEY_FRAMES) as u8);
    for f in frames.iter().take(MAX_KEY_FRAMES) {
        out.extend_from_slice(&f.width.to_be_bytes());
        out.extend_from_slice(&f.height.to_be_bytes());
        out.extend_from_slice(&f.rgb);
    }
    out
}

/// Reads [`encode`]'s form back: 1 to [`MAX_KEY_FRAMES`] frames, each 1 to
/// [`KEY_FRAME_SIDE`] pixels a side holding exactly its RGB bytes, and nothing after them.
pub fn decode(bytes: &[u8]) -> Result<Vec<KeyFrame>, KeyFrameError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(KeyFrameError::Damaged("no SPOORKF1 header"))?;
    let (&count, mut rest) = rest.split_first().ok_or(KeyFrameError::Damaged("cut short"))?;
    let count = usize::from(count);
    if count == 0 || count > MAX_KEY_FRAMES {
        return Err(KeyFrameError::Damaged("a wrong number of frames"));
    }
    let mut frames = Vec::with_capacity(count);
    for _ in 0..count {
        if rest.len() < 8 {
            return Err(KeyFrameError::Damaged("cut short"));
        }
        let width = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes"));
        let height = u32::from_be_bytes(rest[4..8].try_into().expect("4 bytes"));
        if !(1..=KEY_FRAME_SIDE).contains(&width) || !(1..=KEY_FRAME_SIDE).contains(&height) {
            return Err(KeyFrameError::Damaged("a frame of a size never kept"));
        }
        let len = width as usize * height as usize * 3;
        if rest.len() < 8 + len {
            return Err(KeyFrameError::Damaged("cut short"));
        }
        frames.push(KeyFrame { width, height, rgb: rest[8..8 + len].to_vec() });
        rest = &rest[8 + len..];
    }
    if !rest.is_empty() {
        return Err(KeyFrameError::Damaged("bytes after the last frame"));
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4×2 frame whose first byte says which frame it was.
    fn frame(i: u64) -> Vec<u8> {
        let mut rgb = vec![0u8; 4 * 2 * 3];
        rgb[..8].copy_from_slice(&i.to_be_bytes());
        rgb
    }

    #[test]
    fn choose_spreads_evenly_with_both_ends() {
        assert_eq!(choose(0, 16), Vec::<usize>::new());
        assert_eq!(choose(5, 0), Vec::<usize>::new());
        assert_eq!(choose(5, 16), [0, 1, 2, 3, 4]);
        assert_eq!(choose(16, 16), (0..16).collect::<Vec<_>>());
        assert_eq!(choose(9, 1), [0]);
        assert_eq!(choose(10, 4), [0, 3, 6, 9]);
        assert_eq!(choose(31, 16), (0..16).map(|i| 2 * i).collect::<Vec<_>>());
        for n in 17..400 {
            let c = choose(n, 16);
            assert_eq!((c.len(), c[0], c[15]), (16, 0, n - 1), "{n}");
            let gaps: Vec<usize> = c.windows(2).map(|w| w[1] - w[0]).collect();
            let (lo, hi) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
            assert!(*lo >= 1 && hi - lo <= 1, "{n}: gaps {gaps:?}");
        }
    }

    /// Whatever the number of frames offered, at most 16 are kept, in order, the first and the
    /// last included, spread evenly (no gap more than about twice another), and memory stays
    /// bounded.
    #[test]
    fn the_picker_keeps_an_even_bounded_choice_with_both_ends() {
        for n in 1..=700u64 {
            let mut p = KeyFramePicker::new();
            for i in 0..n {
                p.offer(4, 2, &frame(i)).unwrap();
                assert!(p.kept.len() <= 2 * MAX_KEY_FRAMES, "bounded at {i} of {n}");
            }
            assert_eq!(p.offered(), n);
            let got: Vec<u64> = p.finish_numbered().iter().map(|(k, _)| *k).collect();
            assert_eq!(got.len() as u64, n.min(MAX_KEY_FRAMES as u64), "{n}");
            assert_eq!((got[0], *got.last().unwrap()), (0, n - 1), "{n}: {got:?}");
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{n}: {got:?}");
            if n > 2 * MAX_KEY_FRAMES as u64 {
                let gaps: Vec<u64> = got.windows(2).map(|w| w[1] - w[0]).collect();
                let (lo, hi) = (*gaps.iter().min().unwrap(), *gaps.iter().max().unwrap());
                assert!(hi <= 2 * lo + 2, "{n}: uneven {got:?}");
                // Evenly over the whole video: no part of it is left out.
                assert!(hi <= 2 * n.div_ceil(MAX_KEY_FRAMES as u64 - 1) + 2, "{n}: {got:?}");
            }
        }
    }

    #[test]
    fn the_frames_kept_are_the_frames_offered() {
        let mut p = KeyFramePicker::new();
        for i in 0..40u64 {
            p.offer(4, 2, &frame(i)).unwrap();
        }
        for (k, f) in p.finish_numbered() {
            assert_eq!((f.width, f.height), (4, 2), "small frames are not enlarged");
            assert_eq!(f.rgb, frame(k), "frame {k}");
        }
    }

    #[test]
    fn frames_are_shrunk_to_the_kept_side() {
        let f = KeyFrame::shrunk(1280, 720, &vec![200; 1280 * 720 * 3]).unwrap();
        assert_eq!((f.width, f.height, f.rgb.len()), (320, 180, 320 * 180 * 3));
        assert!(f.rgb.iter().all(|&v| v == 200));
        let f = KeyFrame::shrunk(90, 1000, &vec![7; 90 * 1000 * 3]).unwrap();
        assert_eq!((f.width, f.height), (29, 320));
        assert!(matches!(
            KeyFrame::shrunk(10, 10, &[0; 299]),
            Err(KeyFrameError::BadFrame { expected: 300, found: 299, .. })
        ));
        assert!(KeyFrame::shrunk(0, 10, &[]).is_err());
    }

    #[test]
    fn stored_frames_read_back_and_damage_is_caught() {
        let frames: Vec<KeyFrame> = [(320, 180), (1, 1), (200, 320)]
            .iter()
            .enumerate()
            .map(|(i, &(w, h))| KeyFrame {
                width: w,
                height: h,
                rgb: (0..w * h * 3).map(|k| (k as usize * 31 + i) as u8).collect(),
            })
            .collect();
        let bytes = encode(&frames);
        assert_eq!(decode(&bytes).unwrap(), frames);
        for cut in [0, 5, 8, 9, 17, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err(), "trailing bytes");
        let mut big = bytes.clone();
        big[9..13].copy_from_slice(&321u32.to_be_bytes());
        assert!(decode(&big).is_err(), "a side over the kept size");
        let mut none = bytes.clone();
        none[8] = 0;
        assert!(decode(&none).is_err(), "no frames");
        let mut magic = bytes;
        magic[0] ^= 1;
        assert!(decode(&magic).is_err(), "not key frames");
    }
}
