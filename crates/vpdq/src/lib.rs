//! vPDQ, Meta's video hash: the PDQ hash of video frames sampled at a chosen rate, and matching
//! two videos by the share of frames each has near a frame of the other.
//!
//! Frames come from [`spoor_media::video`] (an `ffmpeg` subprocess, RGB24 at the video's own
//! size, as the reference's published hashes were made). Frame `i` of a video at `r` frames a
//! second is kept when `i % max(1, floor(r / fps)) == 0` (every frame for `fps = None`), its
//! timestamp is `i / r`, and its hash is PDQ of the whole RGB frame: the reference's rules.
//!
//! ```no_run
//! let opts = spoor_vpdq::Options::default(); // one frame a second
//! let video = spoor_vpdq::hash_file("clip.mp4".as_ref(), &opts).unwrap();
//! let again = spoor_vpdq::hash_file("clip-reencoded.mp4".as_ref(), &opts).unwrap();
//! let m = spoor_vpdq::compare(&video.features(), &again.features(), &spoor_vpdq::Thresholds::default());
//! assert!(m.is_match);
//! ```

use std::path::Path;

use spoor_core::vpdq::VpdqFrame;
use spoor_core::Hash256;
use spoor_hash::pdq::{pdq, PixelLayout, Pixels};
pub use spoor_media::video::{Frame, VideoError, VideoOptions};

/// How to hash.
#[derive(Debug, Clone)]
pub struct Options {
    /// Frames hashed a second; `None` hashes every frame.
    pub fps: Option<f64>,
    /// Decoding limits and the ffmpeg program.
    pub video: VideoOptions,
}

impl Default for Options {
    fn default() -> Self {
        Options { fps: Some(1.0), video: VideoOptions::default() }
    }
}

/// One hashed frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HashedFrame {
    /// 0-based frame number in decoding order.
    pub frame: u64,
    /// Seconds from the start: `frame / frame rate`.
    pub timestamp: f64,
    /// PDQ of the frame.
    pub hash: Hash256,
    /// PDQ quality, 0–100.
    pub quality: u8,
}

/// A video's vPDQ.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoHash {
    /// The hashed frames, in order.
    pub frames: Vec<HashedFrame>,
    /// Frames decoded.
    pub decoded_frames: u64,
    /// The video's frame rate.
    pub frame_rate: f64,
    /// Duration in seconds, when the container says.
    pub duration: Option<f64>,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
}

impl VideoHash {
    /// The frames as bank features (hash, quality, timestamp).
    pub fn features(&self) -> Vec<VpdqFrame> {
        self.frames
            .iter()
            .map(|f| VpdqFrame { hash: f.hash, quality: f.quality, timestamp: f.timestamp })
            .collect()
    }

    /// The bank text form (python-threatexchange's JSON array).
    pub fn to_signal_text(&self) -> String {
        spoor_core::vpdq::format(&self.features())
    }
}

/// Every how many frames one is hashed.
pub fn frame_interval(frame_rate: f64, fps: Option<f64>) -> u64 {
    match fps {
        None => 1,
        Some(f) if f <= 0.0 || !f.is_finite() => 1,
        Some(f) => ((1.0 / f) * frame_rate).floor().max(1.0) as u64,
    }
}

/// Hashes a video file.
pub fn hash_file(path: &Path, options: &Options) -> Result<VideoHash, VideoError> {
    hash_file_with(path, options, |_, _| true)
}

/// Hashes a video file as [`hash_file`] does, showing each hashed frame and its pixels to
/// `each` as it is hashed (to keep a few frames for review, say); `each` returns false to stop
/// decoding, and the hash then holds the frames hashed so far (`decoded_frames` says how many
/// were decoded).
pub fn hash_file_with(
    path: &Path,
    options: &Options,
    mut each: impl FnMut(&HashedFrame, &Frame<'_>) -> bool,
) -> Result<VideoHash, VideoError> {
    let info = spoor_media::video::probe(path, &options.video)?;
    let every = frame_interval(info.fps, options.fps);
    let mut frames = Vec::new();
    let decoded = spoor_media::video::frames(path, &info, &options.video, |f| {
        if f.index % every != 0 {
            return true;
        }
        let pixels = Pixels::new(f.rgb, f.width as usize, f.height as usize, PixelLayout::Rgb8)
            .expect("ffmpeg frames hold width x height RGB pixels");
        let p = pdq(pixels);
        let hashed = HashedFrame {
            frame: f.index,
            timestamp: (f.index as f32 / info.fps as f32) as f64,
            hash: p.hash,
            quality: p.quality,
        };
        frames.push(hashed);
        each(&hashed, &f)
    })?;
    let (width, height) = options.video.scale.unwrap_or((info.width, info.height));
    Ok(VideoHash {
        frames,
        decoded_frames: decoded,
        frame_rate: info.fps,
        duration: info.duration,
        width,
        height,
    })
}

/// Matching thresholds, as python-threatexchange and HMA use them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Frames below this quality are ignored.
    pub quality: u8,
    /// Two frames match within this PDQ distance (inclusive).
    pub distance: u32,
    /// Share of the query's frames that must match, in percent.
    pub query_match: f64,
    /// Share of the compared video's frames that must match, in percent.
    pub compared_match: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { quality: 50, distance: 31, query_match: 80.0, compared_match: 0.0 }
    }
}

/// The result of comparing two videos.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoMatch {
    /// Percent of the query's (unique, good-quality) frames near a frame of the other.
    pub query_match: f64,
    /// Percent of the other's frames near a frame of the query.
    pub compared_match: f64,
    /// Whether both shares reach their thresholds.
    pub is_match: bool,
}

/// Compares two videos' frames (brute force; banks use the index, see the matcher).
pub fn compare(query: &[VpdqFrame], compared: &[VpdqFrame], t: &Thresholds) -> VideoMatch {
    let q = spoor_core::vpdq::distinct_frames(query, t.quality);
    let c = spoor_core::vpdq::distinct_frames(compared, t.quality);
    let share = |a: &[Hash256], b: &[Hash256]| {
        if a.is_empty() {
            return 0.0;
        }
        let hits = a.iter().filter(|x| b.iter().any(|y| x.distance(y) <= t.distance)).count();
        hits as f64 * 100.0 / a.len() as f64
    };
    let query_match = share(&q, &c);
    let compared_match = share(&c, &q);
    VideoMatch {
        query_match,
        compared_match,
        is_match: !q.is_empty()
            && !c.is_empty()
            && query_match >= t.query_match
            && compared_match >= t.compared_match,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_follow_the_reference() {
        assert_eq!(frame_interval(30.0, None), 1);
        assert_eq!(frame_interval(30.0, Some(1.0)), 30);
        assert_eq!(frame_interval(29.97, Some(1.0)), 29);
        assert_eq!(frame_interval(30.0, Some(60.0)), 1);
        assert_eq!(frame_interval(25.0, Some(0.5)), 50);
    }

    fn frame(seed: u64, quality: u8) -> VpdqFrame {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let h = Hash256::from_words([next(), next(), next(), next()]);
        VpdqFrame { hash: h, quality, timestamp: 0.0 }
    }

    #[test]
    fn shares_use_unique_good_frames() {
        let a: Vec<_> = (1..=10).map(|k| frame(k * 1_000_003, 100)).collect();
        let mut b = a[..5].to_vec();
        b.extend((100..105).map(|k| frame(k * 7_777_777, 100)));
        b.push(frame(1, 10)); // low quality: ignored
        b.push(b[0]); // duplicate: counted once
        let m = compare(&a, &b, &Thresholds::default());
        assert_eq!((m.query_match, m.compared_match), (50.0, 50.0));
        assert!(!m.is_match);
        let m = compare(&a[..5], &b, &Thresholds::default());
        assert_eq!(m.query_match, 100.0);
        assert!(m.is_match);
        assert!(!compare(&[], &b, &Thresholds::default()).is_match);
    }
}
