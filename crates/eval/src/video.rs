//! Videos: the same measurement for vPDQ. Each original video is changed in named ways
//! ([`VideoChange`]) — re-encoded at lower quality, at a lower frame rate, cut, set between
//! other footage, or with a picture [`Change`] applied to every frame — encoded again as
//! H.264, hashed with vPDQ as the service hashes (one frame a second by default) and compared
//! with its original by vPDQ's rule (the share of the copy's good frames near a frame of the
//! original, at each radius). Pairs of distinct videos are compared by the same rule (false
//! matches), and frame by frame (every pair of good frames of two distinct videos), which rests
//! on far more comparisons.
//!
//! Unlike pictures, videos go through files: frames are decoded and the copies encoded by
//! `ffmpeg` subprocesses ([`spoor_media::video`]), in a scratch directory the caller gives; a
//! copy is deleted once hashed unless the settings keep it. Copies are encoded with one
//! encoder thread and `+bitexact`, so the same `ffmpeg` build gives the same copies; the
//! `ffmpeg` version is part of what a figure depends on and is recorded with it.

use crate::changes::Change;
use crate::rng::Rng;
use crate::{FalseMatches, Medium, Pair, Proportion, Recall, Summary, Technology};
use image::{imageops, RgbImage};
use serde::Serialize;
use spoor_core::vpdq::{distinct_frames, VpdqFrame};
use spoor_core::{Hash256, Md5, Sha256};
use spoor_hash::digest::{Hasher, Which};
use spoor_media::video::{Encoder, VideoError};
use spoor_vpdq::Thresholds;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The video changes `spoor eval` applies unless told otherwise.
pub const STANDARD_VIDEO: &[&str] = &[
    "h264_crf28",
    "h264_crf40",
    "resize_0.5",
    "resize_0.25",
    "fps_10",
    "cut_middle",
    "inserted",
    "crop_10",
    "rotate_90",
    "mirror",
    "border_10_black",
    "text",
    "brightness_+30",
    "greyscale",
];

/// The H.264 quality (CRF) copies are encoded at unless their change sets another: about what
/// a sharing service re-encodes uploads at.
pub const DEFAULT_CRF: u8 = 23;

/// One change to a video. Its text form is what `--video-changes` takes and records name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum VideoChange {
    /// A picture change applied to every frame (`resize_0.5`, `crop_10`, `rotate_90`,
    /// `mirror`, `border_10_black`, `text`, `bars`, `brightness_+30`, `greyscale`…; the same
    /// caption on every frame), then encoded at the default quality. JPEG changes are for
    /// pictures only.
    Frames(Change),
    /// Re-encoded as H.264 at this CRF (0–51; higher is worse).
    H264(u8),
    /// Fewer frames a second (1–240): frames are dropped evenly, the duration kept.
    Fps(u32),
    /// Only the middle half kept (a quarter of the frames cut from each end).
    CutMiddle,
    /// Set between other footage: a stretch as long as a quarter of the video before it and
    /// another after it (so the original is two thirds of the copy), as in a compilation.
    Inserted,
}

/// A video change name that is not one of the known forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown video change {name:?}: {why} (known forms: h264_crf28, fps_10, cut_middle, inserted, or a picture change such as resize_0.5, crop_10, rotate_90, mirror, border_10_black, text, bars, brightness_+30, greyscale)")]
pub struct VideoChangeError {
    /// The name given.
    pub name: String,
    /// What is wrong with it.
    pub why: String,
}

impl FromStr for VideoChange {
    type Err = VideoChangeError;

    fn from_str(s: &str) -> Result<VideoChange, VideoChangeError> {
        let err = |why: &str| VideoChangeError { name: s.to_string(), why: why.to_string() };
        let number = |t: &str, lo: u32, hi: u32, what: &str| -> Result<u32, VideoChangeError> {
            if t.is_empty() || t.len() > 3 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(&format!("{what} takes a whole number")));
            }
            let v: u32 = t.parse().map_err(|_| err(&format!("{what} takes a whole number")))?;
            if !(lo..=hi).contains(&v) {
                return Err(err(&format!("{what} takes a number from {lo} to {hi}")));
            }
            Ok(v)
        };
        match s {
            "cut_middle" => return Ok(VideoChange::CutMiddle),
            "inserted" => return Ok(VideoChange::Inserted),
            _ => {}
        }
        if let Some(q) = s.strip_prefix("h264_crf") {
            return Ok(VideoChange::H264(number(q, 0, 51, "h264_crf")? as u8));
        }
        if let Some(r) = s.strip_prefix("fps_") {
            return Ok(VideoChange::Fps(number(r, 1, 240, "fps")?));
        }
        match s.parse::<Change>() {
            Ok(Change::Jpeg(_)) => {
                Err(err("JPEG changes are for pictures; a video is re-encoded with h264_crfN"))
            }
            Ok(c) => Ok(VideoChange::Frames(c)),
            Err(e) => Err(err(e.why)),
        }
    }
}

impl fmt::Display for VideoChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VideoChange::Frames(c) => c.fmt(f),
            VideoChange::H264(q) => write!(f, "h264_crf{q}"),
            VideoChange::Fps(r) => write!(f, "fps_{r}"),
            VideoChange::CutMiddle => f.write_str("cut_middle"),
            VideoChange::Inserted => f.write_str("inserted"),
        }
    }
}

/// The standard video changes, parsed.
pub fn standard() -> Vec<VideoChange> {
    STANDARD_VIDEO.iter().map(|s| s.parse().expect("the standard video changes parse")).collect()
}

/// How to evaluate videos.
#[derive(Clone, Debug)]
pub struct VideoSettings {
    /// The changes to apply to each original.
    pub changes: Vec<VideoChange>,
    /// The frame radii (PDQ distances) at which vPDQ matching is counted.
    pub radii: Vec<u32>,
    /// The share of a query's good frames that must be near the other's, in percent (the
    /// service's rule: 80).
    pub query_match: f64,
    /// The seed of everything random (captions, generated footage).
    pub seed: u64,
    /// Frames below this PDQ quality are ignored, as vPDQ matching ignores them.
    pub min_quality: u8,
    /// Hashing: frames a second, decoding limits, the `ffmpeg` program.
    pub hashing: spoor_vpdq::Options,
    /// The H.264 quality of copies whose change does not set one.
    pub crf: u8,
    /// Where copies are written while they are hashed.
    pub scratch: PathBuf,
    /// Leave the copies in the scratch directory (to check them with another
    /// implementation) instead of deleting each once hashed.
    pub keep_copies: bool,
}

impl VideoSettings {
    /// The standard changes, radius 31, the service's rule and one frame a second.
    pub fn new(scratch: PathBuf) -> VideoSettings {
        VideoSettings {
            changes: standard(),
            radii: vec![31],
            query_match: 80.0,
            seed: 0,
            min_quality: crate::DEFAULT_MIN_QUALITY,
            hashing: spoor_vpdq::Options::default(),
            crf: DEFAULT_CRF,
            scratch,
            keep_copies: false,
        }
    }

    fn thresholds(&self, radius: u32) -> Thresholds {
        Thresholds {
            quality: self.min_quality,
            distance: radius,
            query_match: self.query_match,
            compared_match: 0.0,
        }
    }
}

/// Why a video could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum VideoEvalError {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    /// The original could not be decoded and hashed.
    #[error("cannot hash the original: {0}")]
    Original(VideoError),
    /// A copy could not be made or hashed.
    #[error("the copy made by {change} failed: {source}")]
    Copy {
        /// The change.
        change: String,
        /// What went wrong.
        source: VideoError,
    },
}

/// How a copy compares with its original at one radius.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Share {
    /// The frame radius.
    pub radius: u32,
    /// Percent of the copy's good frames near a frame of the original.
    pub query_match: f64,
    /// Percent of the original's good frames near a frame of the copy.
    pub compared_match: f64,
    /// Whether the copy matches its original by the rule.
    pub matched: bool,
}

/// One changed copy of a video, hashed.
#[derive(Clone, Debug, Serialize)]
pub struct VideoCopy {
    /// The change's name.
    pub change: String,
    /// Frame size of the copy.
    pub width: u32,
    /// Frame size of the copy.
    pub height: u32,
    /// Frames encoded.
    pub frames: u64,
    /// Frames a second of the copy.
    pub frame_rate: f64,
    /// The copy's file size in bytes.
    pub bytes: u64,
    /// Frames hashed (vPDQ), and of them of good quality.
    pub hashed: usize,
    /// Hashed frames of good quality.
    pub good: usize,
    /// How it compares with its original, per radius.
    pub shares: Vec<Share>,
    /// Whether the copy's file bytes have the original's MD5 (only identical files do).
    pub md5_equal: bool,
    /// Whether the copy's file bytes have the original's SHA-256.
    pub sha256_equal: bool,
    /// Where the copy was kept (only with [`VideoSettings::keep_copies`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<PathBuf>,
}

/// One original video, hashed, with its copies.
#[derive(Clone, Debug, Serialize)]
pub struct VideoOriginal {
    /// Its name (a path, or a generated video's name).
    pub name: String,
    /// Frame size.
    pub width: u32,
    /// Frame size.
    pub height: u32,
    /// Frames a second.
    pub frame_rate: f64,
    /// Frames decoded.
    pub frames: u64,
    /// Frames hashed (vPDQ).
    pub hashed: usize,
    /// Distinct hashed frames of good quality: what matching uses.
    pub good: usize,
    /// Its file's MD5.
    #[serde(serialize_with = "crate::as_text")]
    pub md5: Md5,
    /// Its file's SHA-256.
    #[serde(serialize_with = "crate::as_text")]
    pub sha256: Sha256,
    /// Whether it counts (at least one good frame).
    pub used: bool,
    /// Whether copies were made of it (generated videos only join the false-match comparison).
    pub changed: bool,
    /// The hashed frames.
    #[serde(skip)]
    pub features: Vec<VpdqFrame>,
    /// The changed copies (none when not used).
    #[serde(skip)]
    pub copies: Vec<VideoCopy>,
}

fn digest_file(path: &Path) -> std::io::Result<(Md5, Sha256, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Hasher::new(Which { md5: true, sha1: false, sha256: true });
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        len += n as u64;
        h.update(&buf[..n]);
    }
    let (md5, _, sha256) = h.finish();
    Ok((md5.unwrap_or(Md5([0; 16])), sha256.unwrap_or(Sha256([0; 32])), len))
}

/// Hashes one original video and every copy the settings ask for. `tag` names its copies'
/// directory in the scratch directory (unique per original: the caller's index, say).
pub fn evaluate_video(
    path: &Path,
    name: &str,
    tag: &str,
    settings: &VideoSettings,
) -> Result<VideoOriginal, VideoEvalError> {
    evaluate_video_as(path, name, tag, settings, true)
}

/// Hashes one video without changing it: it joins the comparison of distinct videos only.
pub fn evaluate_video_unchanged(
    path: &Path,
    name: &str,
    settings: &VideoSettings,
) -> Result<VideoOriginal, VideoEvalError> {
    evaluate_video_as(path, name, "", settings, false)
}

fn good_count(features: &[VpdqFrame], min_quality: u8) -> usize {
    distinct_frames(features, min_quality).len()
}

fn evaluate_video_as(
    path: &Path,
    name: &str,
    tag: &str,
    settings: &VideoSettings,
    changed: bool,
) -> Result<VideoOriginal, VideoEvalError> {
    let (md5, sha256, _) = digest_file(path)?;
    let hash = spoor_vpdq::hash_file(path, &settings.hashing).map_err(VideoEvalError::Original)?;
    let features = hash.features();
    let good = good_count(&features, settings.min_quality);
    let mut original = VideoOriginal {
        name: name.to_string(),
        width: hash.width,
        height: hash.height,
        frame_rate: hash.frame_rate,
        frames: hash.decoded_frames,
        hashed: features.len(),
        good,
        md5,
        sha256,
        used: good > 0,
        changed,
        features,
        copies: Vec::new(),
    };
    if !original.used || !changed {
        return Ok(original);
    }
    let dir = settings.scratch.join(tag);
    std::fs::create_dir_all(&dir)?;
    for change in &settings.changes {
        let change_name = change.to_string();
        let fail = |source| VideoEvalError::Copy { change: change_name.clone(), source };
        let out = dir.join(format!("{change_name}.mp4"));
        let made = make_copy(path, &original, *change, &out, settings);
        let made = match made {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_file(&out);
                return Err(fail(e));
            }
        };
        let hashed = spoor_vpdq::hash_file(&out, &settings.hashing);
        let digests = digest_file(&out);
        if !settings.keep_copies {
            let _ = std::fs::remove_file(&out);
        }
        let hashed = hashed.map_err(fail)?;
        let (cmd5, csha256, bytes) = digests?;
        let copy_features = hashed.features();
        let shares = settings
            .radii
            .iter()
            .map(|&r| {
                let m = spoor_vpdq::compare(
                    &copy_features,
                    &original.features,
                    &settings.thresholds(r),
                );
                Share {
                    radius: r,
                    query_match: m.query_match,
                    compared_match: m.compared_match,
                    matched: m.is_match,
                }
            })
            .collect();
        original.copies.push(VideoCopy {
            change: change_name,
            width: made.width,
            height: made.height,
            frames: made.frames,
            frame_rate: made.frame_rate,
            bytes,
            hashed: copy_features.len(),
            good: good_count(&copy_features, settings.min_quality),
            shares,
            md5_equal: cmd5 == original.md5,
            sha256_equal: csha256 == original.sha256,
            kept: settings.keep_copies.then_some(out),
        });
    }
    if !settings.keep_copies {
        let _ = std::fs::remove_dir(&dir);
    }
    Ok(original)
}

struct Made {
    width: u32,
    height: u32,
    frames: u64,
    frame_rate: f64,
}

/// Trims a frame to even sides (H.264 in 4:2:0 needs them) by dropping the last column or row.
fn even(img: RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    if w % 2 == 0 && h % 2 == 0 {
        return img;
    }
    imageops::crop_imm(&img, 0, 0, (w & !1).max(2), (h & !1).max(2)).to_image()
}

/// The `k`-th of `n` frames of footage panning diagonally over `picture`, at `w`×`h`.
pub fn pan(picture: &RgbImage, w: u32, h: u32, k: u64, n: u64) -> RgbImage {
    let (pw, ph) = picture.dimensions();
    let (ww, wh) = ((pw * 7 / 10).max(1), (ph * 7 / 10).max(1));
    let span = n.saturating_sub(1).max(1);
    let x = (u64::from(pw - ww) * k.min(span) / span) as u32;
    let y = (u64::from(ph - wh) * k.min(span) / span) as u32;
    let window = imageops::crop_imm(picture, x, y, ww, wh).to_image();
    imageops::resize(&window, w, h, imageops::FilterType::Triangle)
}

/// Codec settings of every copy: H.264 at `crf`, 4:2:0, one encoder thread (the same
/// `ffmpeg` build then always writes the same file).
fn codec(crf: u8) -> [String; 10] {
    [
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        "veryfast".into(),
        "-crf".into(),
        crf.to_string(),
        "-pix_fmt".into(),
        "yuv420p".into(),
        "-threads".into(),
        "1".into(),
    ]
}

/// Streams the original's frames through the change into an encoder writing `out`.
fn make_copy(
    path: &Path,
    original: &VideoOriginal,
    change: VideoChange,
    out: &Path,
    settings: &VideoSettings,
) -> Result<Made, VideoError> {
    let options = &settings.hashing.video;
    let info = spoor_media::video::probe(path, options)?;
    let n = original.frames;
    let rate = info.fps;
    let crf = match change {
        VideoChange::H264(q) => q,
        _ => settings.crf,
    };
    let out_rate = match change {
        VideoChange::Fps(r) => f64::from(r).min(rate),
        _ => rate,
    };
    let args = codec(crf);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut rng = Rng::for_item(settings.seed, &original.sha256.0);
    // Other footage for `inserted`: a generated picture panned over, chosen by the seed and
    // the original.
    let other = match change {
        VideoChange::Inserted => {
            Some(crate::generate::picture(settings.seed, rng.below(1 << 20)).1)
        }
        _ => None,
    };
    let mut encoder: Option<Encoder> = None;
    let mut size = (0u32, 0u32);
    let mut failure: Option<VideoError> = None;
    let mut push = |img: RgbImage, encoder: &mut Option<Encoder>| -> Result<(), VideoError> {
        let img = even(img);
        if encoder.is_none() {
            size = img.dimensions();
            *encoder = Some(Encoder::start(out, size.0, size.1, out_rate, &args, options)?);
        }
        if img.dimensions() != size {
            return Err(VideoError::Encode {
                frames: encoder.as_ref().map_or(0, Encoder::frames),
                message: format!(
                    "a frame of {}x{} in a video of {}x{}",
                    img.width(),
                    img.height(),
                    size.0,
                    size.1
                ),
            });
        }
        encoder.as_mut().expect("started").push(img.as_raw())
    };
    let quarter = n / 4;
    let footage = |k: u64, w: u32, h: u32| -> RgbImage {
        pan(other.as_ref().expect("inserted has footage"), w, h, k, quarter)
    };
    let mut kept_rate_index = u64::MAX;
    spoor_media::video::frames(path, &info, options, |f| {
        let i = f.index;
        let keep = match change {
            VideoChange::Fps(_) => {
                // Frame i falls in output slot floor(i · out / in); the first of each is kept.
                let slot = (i as f64 * out_rate / rate).floor() as u64;
                let keep = slot != kept_rate_index;
                kept_rate_index = slot;
                keep
            }
            VideoChange::CutMiddle => i >= quarter && i < quarter + n / 2,
            _ => true,
        };
        if !keep {
            return true;
        }
        let Some(img) = RgbImage::from_raw(f.width, f.height, f.rgb.to_vec()) else {
            return true;
        };
        let result = (|| {
            if change == VideoChange::Inserted && i == 0 {
                for k in 0..quarter {
                    push(footage(k, f.width, f.height), &mut encoder)?;
                }
            }
            let img = match change {
                VideoChange::Frames(c) => c.apply(&img, &mut rng.clone()),
                _ => img,
            };
            push(img, &mut encoder)?;
            if change == VideoChange::Inserted && i + 1 == n {
                for k in 0..quarter {
                    push(footage(quarter - 1 - k, f.width, f.height), &mut encoder)?;
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let Some(encoder) = encoder else {
        return Err(VideoError::Encode { frames: 0, message: "the change kept no frame".into() });
    };
    let frames = encoder.finish()?;
    Ok(Made { width: size.0, height: size.1, frames, frame_rate: out_rate })
}

/// Makes the `i`-th generated video of `seed` in `out` (two scenes of three seconds at 15
/// frames a second, 320×240, each panning over a generated picture) and returns its name.
pub fn generate_video(
    seed: u64,
    i: u32,
    out: &Path,
    settings: &VideoSettings,
) -> Result<String, VideoError> {
    const RATE: u64 = 15;
    let (w, h) = (320, 240);
    let args = codec(settings.crf);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut encoder = Encoder::start(out, w, h, RATE as f64, &args, &settings.hashing.video)?;
    for scene in 0..2u32 {
        // Pictures far from those `--generated` makes (which count from 0).
        let (_, picture) = crate::generate::picture(seed, 1_000_000 + 2 * i + scene);
        for k in 0..3 * RATE {
            encoder.push(pan(&picture, w, h, k, 3 * RATE).as_raw())?;
        }
    }
    encoder.finish()?;
    Ok(format!("generated-video-{i:05}"))
}

/// The distances of every pair of good frames of two videos.
fn frame_distances(a: &[Hash256], b: &[Hash256]) -> Vec<u32> {
    a.iter().flat_map(|x| b.iter().map(move |y| x.distance(y))).collect()
}

/// Counts recall and false matches over evaluated videos (those not used are left out).
pub fn summarise_videos(originals: &[VideoOriginal], settings: &VideoSettings) -> Summary {
    let used: Vec<&VideoOriginal> = originals.iter().filter(|o| o.used).collect();
    let mut radii = settings.radii.clone();
    radii.sort_unstable();
    radii.dedup();
    let mut recall = Vec::new();
    for change in &settings.changes {
        let name = change.to_string();
        let copies: Vec<&VideoCopy> =
            used.iter().flat_map(|o| o.copies.iter().filter(|c| c.change == name)).collect();
        let total = copies.len() as u64;
        let push = |recall: &mut Vec<Recall>, t, radius, matched| {
            recall.push(Recall {
                medium: Medium::Video,
                change: name.clone(),
                technology: t,
                radius,
                recall: Proportion::new(matched, total),
            })
        };
        for &r in &radii {
            let matched = copies
                .iter()
                .filter(|c| c.shares.iter().any(|s| s.radius == r && s.matched))
                .count() as u64;
            push(&mut recall, Technology::Vpdq, Some(r), matched);
        }
        let md5 = copies.iter().filter(|c| c.md5_equal).count() as u64;
        push(&mut recall, Technology::Md5, None, md5);
        let sha = copies.iter().filter(|c| c.sha256_equal).count() as u64;
        push(&mut recall, Technology::Sha256, None, sha);
    }

    let good: Vec<Vec<Hash256>> =
        used.iter().map(|o| distinct_frames(&o.features, settings.min_quality)).collect();
    let n = used.len();
    let video_pairs = (n * n.saturating_sub(1) / 2) as u64;
    let mut false_matches = Vec::new();
    // Per pair: the smallest frame distance, and the number of frame pairs within each radius.
    struct PairStats {
        a: usize,
        b: usize,
        nearest: u32,
        within: Vec<u64>,
        matched: Vec<bool>,
    }
    let mut stats = Vec::new();
    let mut frame_pairs = 0u64;
    for i in 0..n {
        for j in i + 1..n {
            let d = frame_distances(&good[i], &good[j]);
            frame_pairs += d.len() as u64;
            let within = radii.iter().map(|&r| d.iter().filter(|&&x| x <= r).count() as u64);
            let matched = radii.iter().map(|&r| {
                let t = settings.thresholds(r);
                spoor_vpdq::compare(&used[i].features, &used[j].features, &t).is_match
                    || spoor_vpdq::compare(&used[j].features, &used[i].features, &t).is_match
            });
            stats.push(PairStats {
                a: i,
                b: j,
                nearest: d.iter().copied().min().unwrap_or(256),
                within: within.collect(),
                matched: matched.collect(),
            });
        }
    }
    let listed = |pick: &dyn Fn(&PairStats) -> bool| -> Vec<Pair> {
        let mut pairs: Vec<Pair> = stats
            .iter()
            .filter(|s| pick(s))
            .map(|s| Pair {
                a: used[s.a].name.clone(),
                b: used[s.b].name.clone(),
                distance: s.nearest,
            })
            .collect();
        pairs.sort_by(|x, y| (x.distance, &x.a, &x.b).cmp(&(y.distance, &y.a, &y.b)));
        pairs.truncate(crate::MAX_PAIRS_LISTED);
        pairs
    };
    for (k, &r) in radii.iter().enumerate() {
        let matched = stats.iter().filter(|s| s.matched[k]).count() as u64;
        false_matches.push(FalseMatches {
            medium: Medium::Video,
            technology: Technology::Vpdq,
            radius: Some(r),
            rate: Proportion::new(matched, video_pairs),
            pairs: listed(&|s| s.matched[k]),
        });
    }
    for (k, &r) in radii.iter().enumerate() {
        let within: u64 = stats.iter().map(|s| s.within[k]).sum();
        false_matches.push(FalseMatches {
            medium: Medium::Video,
            technology: Technology::VpdqFrame,
            radius: Some(r),
            rate: Proportion::new(within, frame_pairs),
            pairs: listed(&|s| s.within[k] > 0),
        });
    }
    for t in [Technology::Md5, Technology::Sha256] {
        let same = |a: &VideoOriginal, b: &VideoOriginal| match t {
            Technology::Md5 => a.md5 == b.md5,
            _ => a.sha256 == b.sha256,
        };
        let matched: Vec<&PairStats> =
            stats.iter().filter(|s| same(used[s.a], used[s.b])).collect();
        false_matches.push(FalseMatches {
            medium: Medium::Video,
            technology: t,
            radius: None,
            rate: Proportion::new(matched.len() as u64, video_pairs),
            pairs: matched
                .iter()
                .take(crate::MAX_PAIRS_LISTED)
                .map(|s| Pair { a: used[s.a].name.clone(), b: used[s.b].name.clone(), distance: 0 })
                .collect(),
        });
    }
    Summary {
        originals: used.iter().filter(|o| o.changed).count() as u64,
        compared: n as u64,
        skipped: (originals.len() - n) as u64,
        recall,
        false_matches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_say_why() {
        for s in STANDARD_VIDEO {
            assert_eq!(s.parse::<VideoChange>().unwrap().to_string(), *s);
        }
        for s in ["h264_crf0", "h264_crf51", "fps_1", "fps_240", "bars", "rotate_270"] {
            assert_eq!(s.parse::<VideoChange>().unwrap().to_string(), s);
        }
        for (bad, why) in [
            ("jpeg_q30", "JPEG changes are for pictures"),
            ("h264_crf52", "from 0 to 51"),
            ("h264_crf", "whole number"),
            ("fps_0", "from 1 to 240"),
            ("fps_+5", "whole number"),
            ("cut", "not a known change"),
        ] {
            let e = bad.parse::<VideoChange>().unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn panning_moves_over_the_picture_and_keeps_the_size() {
        let (_, p) = crate::generate::picture(1, 3);
        let first = pan(&p, 64, 48, 0, 10);
        let last = pan(&p, 64, 48, 9, 10);
        assert_eq!(first.dimensions(), (64, 48));
        assert_ne!(first, last);
        assert_eq!(pan(&p, 64, 48, 9, 10), last, "deterministic");
        assert_eq!(even(RgbImage::new(7, 5)).dimensions(), (6, 4));
    }
}
