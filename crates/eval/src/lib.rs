//! Measures the recall and the false matches a deployment's hashing achieves, on benign
//! pictures it is given: `spoor eval`'s engine.
//!
//! For each original (bytes of an image file, or a generated picture) it applies a set of
//! [`Change`]s — the standard set is what known material typically goes through: re-saved as
//! JPEG, shrunk, cropped, turned, mirrored, framed, captioned, made brighter, greyer — encodes
//! each copy as a file would be (JPEG for the JPEG changes, PNG otherwise), decodes it again
//! with the same decoder the service uses, and hashes it. [`summarise`] then counts, per change
//! and technology, how many copies would still match their original at each radius (recall),
//! and, over all pairs of distinct originals, how many would match each other (false matches);
//! every ratio with its 95 % Wilson interval and the count it rests on.
//!
//! Technologies: `pdq` (the copy's hash against the original's), `pdq_dihedral` (the best of
//! the copy's eight rotation/mirror hashes derived from its DCT, as `--dihedral` matches),
//! `pdq_dihedral_exact` (the best of the hashes of the copy's eight turned and mirrored pixel
//! grids), `pdq_unframed` (the copy's hash and, when it has a uniform frame, the hash of what is
//! inside it, against the original's and, were the original framed, its inside's: what
//! matching "whole or unframed" sees), `md5` and `sha256` (the copy's file bytes; exact hashes
//! match only identical files).
//!
//! Invariants:
//! * Deterministic: the same originals, settings and seed give the same records, whatever
//!   order or thread count (a copy's randomness comes from the seed and its original's digest).
//! * No I/O: bytes in, records out. Nothing is kept but hashes, sizes and distances, unless
//!   the caller asks for the encoded copies ([`Settings::keep_copies`]) to write them out.
//! * Nothing is estimated: an original too weak to hash (PDQ quality below the minimum) is
//!   reported as skipped, not counted either way.

pub mod changes;
mod font;
pub mod generate;
pub mod rng;
pub mod video;

pub use changes::{Change, ChangeError, STANDARD};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use rng::Rng;
use serde::Serialize;
use spoor_core::ratio::wilson;
use spoor_core::{Hash256, Md5, Sha256};
use spoor_hash::digest::Digests;
use spoor_hash::pdq::frame::pdq_unframed;
use spoor_hash::pdq::{pdq_dihedral_exact, pdq_with_dihedral, PixelLayout, Pixels, DIHEDRAL_NAMES};
use spoor_media::{DecodeError, Options};

/// The PDQ quality below which a hash is too weak to trust (PDQ's own convention).
pub const DEFAULT_MIN_QUALITY: u8 = 50;

/// How to evaluate.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The changes to apply to each original.
    pub changes: Vec<Change>,
    /// The PDQ radii (Hamming distances) at which recall and false matches are counted.
    pub radii: Vec<u32>,
    /// The seed of everything random (captions, generated pictures).
    pub seed: u64,
    /// Originals whose PDQ quality is below this are skipped.
    pub min_quality: u8,
    /// Decoding, as the service decodes.
    pub decode: Options,
    /// Keep each copy's encoded bytes in [`Copy::encoded`] (to write them out).
    pub keep_copies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            changes: changes::standard(),
            radii: vec![31],
            seed: 0,
            min_quality: DEFAULT_MIN_QUALITY,
            decode: Options::default(),
            keep_copies: false,
        }
    }
}

/// Why an original could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The original is not a picture Spoor can decode.
    #[error("cannot decode the original: {0}")]
    Decode(#[from] DecodeError),
    /// A changed copy could not be decoded again (a bug in an encoder or the decoder).
    #[error("the copy made by {change} could not be decoded again: {source}")]
    Copy {
        /// The change.
        change: String,
        /// The decoder's complaint.
        source: DecodeError,
    },
    /// A copy could not be encoded.
    #[error("the copy made by {change} could not be encoded: {detail}")]
    Encode {
        /// The change.
        change: String,
        /// The encoder's complaint.
        detail: String,
    },
}

/// One changed copy of an original, hashed.
#[derive(Clone, Debug, Serialize)]
pub struct Copy {
    /// The change's name.
    pub change: String,
    /// Size of the copy.
    pub width: u32,
    /// Size of the copy.
    pub height: u32,
    /// How the copy was encoded.
    #[serde(skip)]
    pub encoding: changes::Encoding,
    /// The copy's encoded size in bytes.
    pub bytes: usize,
    /// The copy's PDQ quality.
    pub quality: u8,
    /// The copy's PDQ hash.
    #[serde(serialize_with = "as_text")]
    pub pdq: Hash256,
    /// Distance from the copy's PDQ to the original's.
    pub distance: u32,
    /// The smallest distance from any of the copy's eight rotation/mirror hashes to the
    /// original's hash (what `--dihedral` matching sees).
    pub distance_dihedral: u32,
    /// Which of the copy's rotations/mirrors gave `distance_dihedral`.
    pub transform: &'static str,
    /// The smallest distance from the hashes of the copy's eight turned and mirrored pixel
    /// grids to the original's hash (what exact dihedral matching sees).
    pub distance_dihedral_exact: u32,
    /// Which of them gave `distance_dihedral_exact`.
    pub transform_exact: &'static str,
    /// The smallest distance between the copy's hashes (whole, and unframed when it has a
    /// frame) and the original's (likewise).
    pub distance_unframed: u32,
    /// The frame found around the copy (left, top, right, bottom, in pixels), if any.
    pub frame: Option<[usize; 4]>,
    /// Whether the copy's file bytes have the original's MD5 (only identical files do).
    pub md5_equal: bool,
    /// Whether the copy's file bytes have the original's SHA-256.
    pub sha256_equal: bool,
    /// The encoded copy (only with [`Settings::keep_copies`]).
    #[serde(skip)]
    pub encoded: Option<Vec<u8>>,
}

impl Copy {
    /// The file extension of the encoded copy.
    pub fn extension(&self) -> &'static str {
        self.encoding.extension()
    }
}

/// One original, hashed, with its copies.
#[derive(Clone, Debug, Serialize)]
pub struct Original {
    /// Its name (a path, or a generated picture's name).
    pub name: String,
    /// Its size.
    pub width: u32,
    /// Its size.
    pub height: u32,
    /// Its PDQ quality.
    pub quality: u8,
    /// Its PDQ hash.
    #[serde(serialize_with = "as_text")]
    pub pdq: Hash256,
    /// Its eight rotation/mirror hashes (the first is `pdq`).
    #[serde(skip)]
    pub dihedral: [Hash256; 8],
    /// The hashes of its eight turned and mirrored pixel grids.
    #[serde(skip)]
    pub dihedral_exact: [Hash256; 8],
    /// The hash of what is inside its frame, when it has one (and that is good enough to
    /// hash).
    #[serde(skip)]
    pub unframed: Option<Hash256>,
    /// Its file's MD5.
    #[serde(serialize_with = "as_text")]
    pub md5: Md5,
    /// Its file's SHA-256.
    #[serde(serialize_with = "as_text")]
    pub sha256: Sha256,
    /// Whether it counts (quality at least the minimum).
    pub used: bool,
    /// Whether copies were made of it (generated pictures only join the false-match
    /// comparison).
    pub changed: bool,
    /// The changed copies (none when not used).
    #[serde(skip)]
    pub copies: Vec<Copy>,
}

pub(crate) fn as_text<S: serde::Serializer, T: std::fmt::Display>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn to_rgb(d: &spoor_media::Decoded) -> RgbImage {
    let (w, h) = (d.width as u32, d.height as u32);
    let c = d.layout.channels();
    let mut out = RgbImage::new(w, h);
    for (px, src) in out.pixels_mut().zip(d.data.chunks_exact(c)) {
        px.0 = match d.layout {
            PixelLayout::Gray8 | PixelLayout::GrayAlpha8 => [src[0], src[0], src[0]],
            PixelLayout::Rgb8 | PixelLayout::Rgba8 => [src[0], src[1], src[2]],
        };
    }
    out
}

/// Encodes pixels losslessly as PNG (fast compression: these files are measured, not kept).
pub fn png(img: &RgbImage) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(img.as_raw(), img.width(), img.height(), ExtendedColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(img.as_raw(), img.width(), img.height(), ExtendedColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Hashes one original (the bytes of its file) and every copy the settings ask for.
pub fn evaluate(name: &str, bytes: &[u8], settings: &Settings) -> Result<Original, EvalError> {
    evaluate_as(name, bytes, settings, true)
}

/// Hashes one original without changing it: it joins the comparison of distinct originals
/// (false matches) only, as generated pictures do.
pub fn evaluate_unchanged(
    name: &str,
    bytes: &[u8],
    settings: &Settings,
) -> Result<Original, EvalError> {
    evaluate_as(name, bytes, settings, false)
}

fn evaluate_as(
    name: &str,
    bytes: &[u8],
    settings: &Settings,
    changed: bool,
) -> Result<Original, EvalError> {
    let decoded = spoor_media::decode(bytes, &settings.decode)?;
    let (pdq, dihedral) = pdq_with_dihedral(decoded.pixels());
    let digests = Digests::of(bytes);
    let mut original = Original {
        name: name.to_string(),
        width: decoded.width as u32,
        height: decoded.height as u32,
        quality: dihedral.quality,
        pdq,
        dihedral: dihedral.hashes,
        dihedral_exact: if dihedral.quality >= settings.min_quality {
            pdq_dihedral_exact(decoded.pixels()).hashes
        } else {
            [pdq; 8]
        },
        unframed: unframed(decoded.pixels(), settings.min_quality).map(|(_, h)| h),
        md5: digests.md5,
        sha256: digests.sha256,
        used: dihedral.quality >= settings.min_quality,
        changed,
        copies: Vec::new(),
    };
    if !original.used || !changed {
        return Ok(original);
    }
    let rgb = to_rgb(&decoded);
    drop(decoded);
    for change in &settings.changes {
        let mut rng = Rng::for_item(settings.seed, &digests.sha256.0);
        let name = change.to_string();
        let changed = change.apply(&rgb, &mut rng);
        let encoded = match change.encoding() {
            changes::Encoding::Jpeg(q) => jpeg(&changed, q),
            changes::Encoding::Png => png(&changed),
        }
        .map_err(|detail| EvalError::Encode { change: name.clone(), detail })?;
        drop(changed);
        let copy = spoor_media::decode(&encoded, &settings.decode)
            .map_err(|source| EvalError::Copy { change: name.clone(), source })?;
        let (h, d) = pdq_with_dihedral(copy.pixels());
        let nearest = |hashes: &[Hash256; 8]| {
            hashes.iter().enumerate().map(|(k, v)| (v.distance(&pdq), k)).min().unwrap_or((256, 0))
        };
        let (best, which) = nearest(&d.hashes);
        let (best_exact, which_exact) = nearest(&pdq_dihedral_exact(copy.pixels()).hashes);
        let copy_frame = unframed(copy.pixels(), settings.min_quality);
        let banked = [Some(pdq), original.unframed];
        let asked = [Some(h), copy_frame.map(|(_, u)| u)];
        let best_unframed = asked
            .iter()
            .flatten()
            .flat_map(|q| banked.iter().flatten().map(move |b| q.distance(b)))
            .min()
            .unwrap_or(256);
        let cd = Digests::of(&encoded);
        original.copies.push(Copy {
            change: name,
            width: copy.width as u32,
            height: copy.height as u32,
            encoding: change.encoding(),
            bytes: encoded.len(),
            quality: d.quality,
            pdq: h,
            distance: h.distance(&pdq),
            distance_dihedral: best,
            transform: DIHEDRAL_NAMES[which],
            distance_dihedral_exact: best_exact,
            transform_exact: DIHEDRAL_NAMES[which_exact],
            distance_unframed: best_unframed,
            frame: copy_frame.map(|(f, _)| [f.left, f.top, f.right, f.bottom]),
            md5_equal: cd.md5 == digests.md5,
            sha256_equal: cd.sha256 == digests.sha256,
            encoded: settings.keep_copies.then_some(encoded),
        });
    }
    Ok(original)
}

/// The frame of a picture and the hash of what is inside it, when it has a frame and that
/// hash is of quality at least `min_quality`.
fn unframed(px: Pixels<'_>, min_quality: u8) -> Option<(spoor_hash::pdq::frame::Frame, Hash256)> {
    pdq_unframed(px).filter(|(_, p)| p.quality >= min_quality).map(|(f, p)| (f, p.hash))
}

/// How copies and originals are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Technology {
    /// PDQ, the copy's hash as it is.
    Pdq,
    /// PDQ with the copy's eight rotations and mirrors derived from one DCT (`--dihedral`).
    PdqDihedral,
    /// PDQ of the copy's eight turned and mirrored pixel grids (exact dihedral).
    PdqDihedralExact,
    /// PDQ of the copy as it is and of what is inside its frame, if it has one.
    PdqUnframed,
    /// MD5 of the file bytes.
    Md5,
    /// SHA-256 of the file bytes.
    Sha256,
    /// vPDQ: a copy matches when enough of its good frames are near frames of the original
    /// (the service's rule).
    Vpdq,
    /// vPDQ frame by frame: pairs of good frames of distinct videos within the radius (false
    /// matches only).
    VpdqFrame,
}

impl Technology {
    /// Those measured on pictures, in the order reports list them.
    pub const PICTURES: [Technology; 6] = [
        Technology::Pdq,
        Technology::PdqDihedral,
        Technology::PdqDihedralExact,
        Technology::PdqUnframed,
        Technology::Md5,
        Technology::Sha256,
    ];

    /// The name in records.
    pub fn name(self) -> &'static str {
        match self {
            Technology::Pdq => "pdq",
            Technology::PdqDihedral => "pdq_dihedral",
            Technology::PdqDihedralExact => "pdq_dihedral_exact",
            Technology::PdqUnframed => "pdq_unframed",
            Technology::Md5 => "md5",
            Technology::Sha256 => "sha256",
            Technology::Vpdq => "vpdq",
            Technology::VpdqFrame => "vpdq_frame",
        }
    }

    fn perceptual(self) -> bool {
        matches!(
            self,
            Technology::Pdq
                | Technology::PdqDihedral
                | Technology::PdqDihedralExact
                | Technology::PdqUnframed
                | Technology::Vpdq
                | Technology::VpdqFrame
        )
    }
}

/// A proportion with what it rests on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Proportion {
    /// Successes.
    pub count: u64,
    /// Trials.
    pub of: u64,
    /// `count / of` (0 when there are no trials).
    pub rate: f64,
    /// The 95 % Wilson interval.
    pub low: f64,
    /// The 95 % Wilson interval.
    pub high: f64,
}

impl Proportion {
    /// `count` of `of`.
    pub fn new(count: u64, of: u64) -> Proportion {
        let (low, high) = wilson(count, of);
        let rate = if of == 0 { 0.0 } else { count as f64 / of as f64 };
        Proportion { count, of, rate, low, high }
    }
}

/// What was changed and hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    /// Pictures.
    Picture,
    /// Videos.
    Video,
}

/// Recall of one change by one technology at one radius.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recall {
    /// Pictures or videos.
    pub medium: Medium,
    /// The change.
    pub change: String,
    /// The technology.
    pub technology: Technology,
    /// The radius (perceptual technologies only).
    pub radius: Option<u32>,
    /// Copies that still match their original, of all copies.
    pub recall: Proportion,
}

/// A pair of distinct originals that match each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pair {
    /// One original.
    pub a: String,
    /// The other.
    pub b: String,
    /// Their distance (the technology's: for `pdq_dihedral` the smallest over rotations).
    pub distance: u32,
}

/// False matches of one technology at one radius over all pairs of distinct originals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FalseMatches {
    /// Pictures or videos.
    pub medium: Medium,
    /// The technology.
    pub technology: Technology,
    /// The radius (perceptual technologies only).
    pub radius: Option<u32>,
    /// Pairs that match, of all pairs.
    pub rate: Proportion,
    /// The closest matching pairs (at most [`MAX_PAIRS_LISTED`]).
    pub pairs: Vec<Pair>,
}

/// How many matching pairs a [`FalseMatches`] lists.
pub const MAX_PAIRS_LISTED: usize = 20;

/// What a run found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Originals whose copies were counted (recall).
    pub originals: u64,
    /// Originals compared pair by pair (false matches): these and the generated pictures.
    pub compared: u64,
    /// Originals skipped for their quality.
    pub skipped: u64,
    /// Recall per change, technology and radius, in the order of the settings' changes.
    pub recall: Vec<Recall>,
    /// False matches per technology and radius.
    pub false_matches: Vec<FalseMatches>,
}

fn pair_distance(t: Technology, a: &Original, b: &Original) -> Option<u32> {
    match t {
        Technology::Pdq => Some(a.pdq.distance(&b.pdq)),
        Technology::PdqDihedral => {
            // Either may be the banked one and the other the query turned eight ways.
            let ab = a.dihedral.iter().map(|v| v.distance(&b.pdq)).min();
            let ba = b.dihedral.iter().map(|v| v.distance(&a.pdq)).min();
            ab.min(ba)
        }
        Technology::PdqDihedralExact => {
            let ab = a.dihedral_exact.iter().map(|v| v.distance(&b.pdq)).min();
            let ba = b.dihedral_exact.iter().map(|v| v.distance(&a.pdq)).min();
            ab.min(ba)
        }
        Technology::PdqUnframed => {
            // Each side's whole hash and, when framed, its inside's: any pair of them.
            let (ha, hb) = ([Some(a.pdq), a.unframed], [Some(b.pdq), b.unframed]);
            ha.iter().flatten().flat_map(|x| hb.iter().flatten().map(|y| x.distance(y))).min()
        }
        Technology::Md5 => (a.md5 == b.md5).then_some(0),
        Technology::Sha256 => (a.sha256 == b.sha256).then_some(0),
        Technology::Vpdq | Technology::VpdqFrame => None,
    }
}

/// Counts recall and false matches over evaluated originals (those not used are left out).
pub fn summarise(originals: &[Original], settings: &Settings) -> Summary {
    let used: Vec<&Original> = originals.iter().filter(|o| o.used).collect();
    let mut radii = settings.radii.clone();
    radii.sort_unstable();
    radii.dedup();
    let mut recall = Vec::new();
    for change in &settings.changes {
        let name = change.to_string();
        let copies: Vec<&Copy> =
            used.iter().flat_map(|o| o.copies.iter().filter(|c| c.change == name)).collect();
        let total = copies.len() as u64;
        for t in Technology::PICTURES {
            let count =
                |pred: &dyn Fn(&Copy) -> bool| copies.iter().filter(|c| pred(c)).count() as u64;
            if t.perceptual() {
                for &r in &radii {
                    let matched = match t {
                        Technology::Pdq => count(&|c| c.distance <= r),
                        Technology::PdqDihedral => count(&|c| c.distance_dihedral <= r),
                        Technology::PdqUnframed => count(&|c| c.distance_unframed <= r),
                        _ => count(&|c| c.distance_dihedral_exact <= r),
                    };
                    recall.push(Recall {
                        medium: Medium::Picture,
                        change: name.clone(),
                        technology: t,
                        radius: Some(r),
                        recall: Proportion::new(matched, total),
                    });
                }
            } else {
                let matched = match t {
                    Technology::Md5 => count(&|c| c.md5_equal),
                    _ => count(&|c| c.sha256_equal),
                };
                recall.push(Recall {
                    medium: Medium::Picture,
                    change: name.clone(),
                    technology: t,
                    radius: None,
                    recall: Proportion::new(matched, total),
                });
            }
        }
    }
    let n = used.len() as u64;
    let pairs = n * n.saturating_sub(1) / 2;
    let mut false_matches = Vec::new();
    for t in Technology::PICTURES {
        // The distance of every pair that could match at the largest radius, once.
        let limit = if t.perceptual() { radii.last().copied().unwrap_or(0) } else { 0 };
        let mut close: Vec<Pair> = Vec::new();
        for (i, a) in used.iter().enumerate() {
            for b in &used[i + 1..] {
                if let Some(d) = pair_distance(t, a, b).filter(|&d| d <= limit) {
                    close.push(Pair { a: a.name.clone(), b: b.name.clone(), distance: d });
                }
            }
        }
        close.sort_by(|x, y| (x.distance, &x.a, &x.b).cmp(&(y.distance, &y.a, &y.b)));
        let mut at = |radius: Option<u32>, r: u32| {
            let within: Vec<&Pair> = close.iter().filter(|p| p.distance <= r).collect();
            false_matches.push(FalseMatches {
                medium: Medium::Picture,
                technology: t,
                radius,
                rate: Proportion::new(within.len() as u64, pairs),
                pairs: within.into_iter().take(MAX_PAIRS_LISTED).cloned().collect(),
            });
        };
        if t.perceptual() {
            for &r in &radii {
                at(Some(r), r);
            }
        } else {
            at(None, 0);
        }
    }
    Summary {
        originals: used.iter().filter(|o| o.changed).count() as u64,
        compared: n,
        skipped: originals.len() as u64 - n,
        recall,
        false_matches,
    }
}
