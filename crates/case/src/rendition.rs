//! What a reviewer is shown: a small, blurred, by default greyscale PNG made by the server from
//! the decoded pixels, never the original file.
//!
//! [`render_image`] decodes with `spoor-media` (EXIF orientation applied, its limits checked
//! before any pixel buffer is allocated), shrinks the image by area averaging so that its longer
//! side is at most [`View::max_side`] (small images are never enlarged), turns it grey unless
//! colour is asked for (`(299 R + 587 G + 114 B) / 1000`, rounded; alpha is dropped), blurs it
//! and encodes a fresh 8-bit PNG with no metadata. [`render_frames`] does the same for up to
//! [`MAX_FRAMES`] video frames laid out in a grid.
//!
//! The blur is three passes of a box filter per axis (a close approximation of a Gaussian whose
//! sigma is about the box radius), with edges clamped, in integers: the same input always gives
//! the same bytes. Its radius is set for a 320-pixel rendition and scales with the rendition's
//! (or the frame's) longer side, so a level looks the same at every size.
//!
//! ```
//! use spoor_case::rendition::{render_image, View};
//! # let mut png_bytes = Vec::new();
//! # {
//! #     let mut e = png::Encoder::new(&mut png_bytes, 640, 480);
//! #     e.set_color(png::ColorType::Rgb);
//! #     let mut w = e.write_header().unwrap();
//! #     w.write_image_data(&vec![90; 640 * 480 * 3]).unwrap();
//! # }
//! let rendition = render_image(&png_bytes, &View::default(), &spoor_media::Options::default())
//!     .unwrap();
//! assert_eq!((rendition.width, rendition.height), (320, 240));
//! assert!(!rendition.colour);
//! ```

use spoor_hash::pdq::PixelLayout;
use spoor_media::DecodeError;

/// The longer side, in pixels, for which the blur radii of [`BlurLevel`] are given.
pub const REFERENCE_SIDE: u32 = 320;
/// The smallest [`View::max_side`] accepted.
pub const MIN_SIDE: u32 = 16;
/// The largest [`View::max_side`] accepted.
pub const MAX_SIDE: u32 = 4096;
/// The most frames [`render_frames`] shows; more are chosen evenly from those given.
pub const MAX_FRAMES: usize = 16;
/// The most frames side by side in a row of [`render_frames`]'s grid.
pub const GRID_COLUMNS: usize = 4;
/// Pixels between the tiles of [`render_frames`]'s grid (black).
pub const GRID_GAP: u32 = 2;

/// How strongly a rendition is blurred: 0 (not at all) to 4 ([`BlurLevel::STRONGEST`], the
/// default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlurLevel(u8);

impl BlurLevel {
    /// No blur.
    pub const NONE: BlurLevel = BlurLevel(0);
    /// The strongest blur, and the default.
    pub const STRONGEST: BlurLevel = BlurLevel(4);

    /// The level `level`, if it is 0 to 4.
    pub const fn new(level: u8) -> Option<BlurLevel> {
        if level <= Self::STRONGEST.0 {
            Some(BlurLevel(level))
        } else {
            None
        }
    }

    /// The level as a number, 0 to 4.
    pub const fn level(self) -> u8 {
        self.0
    }

    /// The blur radius in pixels for a rendition whose longer side is [`REFERENCE_SIDE`]:
    /// 0, 2, 4, 8 or 16.
    pub const fn radius(self) -> u32 {
        match self.0 {
            0 => 0,
            l => 1 << l,
        }
    }

    /// The radius for an image whose longer side is `side`: [`BlurLevel::radius`] scaled by
    /// `side / 320`, rounded, and at least 1 for any level above 0.
    pub fn radius_at(self, side: u32) -> u32 {
        let base = u64::from(self.radius());
        if base == 0 {
            return 0;
        }
        let scaled =
            (base * u64::from(side) + u64::from(REFERENCE_SIDE / 2)) / u64::from(REFERENCE_SIDE);
        scaled.clamp(1, u64::from(u32::MAX)) as u32
    }
}

impl Default for BlurLevel {
    fn default() -> Self {
        BlurLevel::STRONGEST
    }
}

/// How a reviewer asked to see the media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct View {
    /// How strongly to blur.
    pub blur: BlurLevel,
    /// Keep colour (otherwise greyscale).
    pub colour: bool,
    /// The longest side of an image rendition, in pixels ([`MIN_SIDE`] to [`MAX_SIDE`]); a grid of
    /// frames may be twice that.
    pub max_side: u32,
}

impl Default for View {
    /// The strongest blur, greyscale, at most 320 pixels.
    fn default() -> Self {
        View { blur: BlurLevel::STRONGEST, colour: false, max_side: REFERENCE_SIDE }
    }
}

/// A rendition: a PNG made for review.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendition {
    /// The PNG file (8-bit grey, or 8-bit RGB when `colour`).
    pub png: Vec<u8>,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
    /// Whether it is in colour (RGB) rather than grey.
    pub colour: bool,
    /// How strongly it was blurred.
    pub blur: BlurLevel,
}

impl std::fmt::Debug for Rendition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendition")
            .field("png", &format_args!("{} bytes", self.png.len()))
            .field("width", &self.width)
            .field("height", &self.height)
            .field("colour", &self.colour)
            .field("blur", &self.blur)
            .finish()
    }
}

/// Why a rendition could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RenditionError {
    /// The media could not be decoded (or is over the decoding limits).
    #[error("cannot show this media: {0}")]
    Decode(#[from] DecodeError),
    /// The view asks for a size outside [`MIN_SIDE`]..=[`MAX_SIDE`].
    #[error("a rendition's longest side must be {MIN_SIDE} to {MAX_SIDE} pixels, not {0}; ask for a size in that range")]
    BadSize(u32),
    /// `render_frames` was given no frames.
    #[error("no frames to show: give at least one frame")]
    NoFrames,
    /// A frame's buffer does not fit its size.
    #[error("frame {index} is {width}x{height}, which needs {expected} bytes of RGB, but it holds {found}; pass whole RGB frames")]
    BadFrame {
        /// Its position in the list given.
        index: usize,
        /// Its declared width.
        width: u32,
        /// Its declared height.
        height: u32,
        /// Bytes it should hold.
        expected: u128,
        /// Bytes it holds.
        found: usize,
    },
    /// The PNG encoder failed.
    #[error("could not encode the rendition as PNG: {0}")]
    Encode(String),
}

/// Makes the rendition of an image file. EXIF orientation is always applied (whatever
/// `options.exif_orient` says), so the reviewer sees the image the right way up; the other
/// options, limits above all, are `spoor_media`'s.
pub fn render_image(
    bytes: &[u8],
    view: &View,
    options: &spoor_media::Options,
) -> Result<Rendition, RenditionError> {
    check_view(view)?;
    // The orientation is applied here, after shrinking: turning a 320-pixel image costs nothing,
    // turning a 12-megapixel one costs more than decoding it.
    let options = spoor_media::Options { exif_orient: false, ..*options };
    let decoded = spoor_media::decode(bytes, &options)?;
    let orientation = decoded.exif_orientation.filter(|o| (2..=8).contains(o)).unwrap_or(1);
    let transposed = orientation >= 5;
    let (w, h) = (decoded.width, decoded.height);
    let side = view.max_side as usize;
    let (sw, sh) = if transposed {
        let (ow, oh) = fit(h, w, side, side);
        (oh, ow)
    } else {
        fit(w, h, side, side)
    };
    let small = shrink(&decoded.data, w, h, decoded.layout, view.colour, sw, sh);
    drop(decoded);
    let mut plane = small.oriented(orientation);
    plane.blur(view.blur.radius_at(sw.max(sh) as u32) as usize);
    finish(plane, view)
}

/// Makes one rendition of video frames, each `(width, height, rgb)` with `rgb` holding
/// `width × height × 3` bytes: a grid of up to [`GRID_COLUMNS`] columns showing at most
/// [`MAX_FRAMES`] frames (chosen evenly, the first and last included, when more are given), each
/// shrunk and blurred as [`render_image`] would, in cells no larger than `view.max_side`, the
/// whole grid's longer side at most `2 × view.max_side`.
pub fn render_frames(
    frames: &[(u32, u32, &[u8])],
    view: &View,
) -> Result<Rendition, RenditionError> {
    check_view(view)?;
    if frames.is_empty() {
        return Err(RenditionError::NoFrames);
    }
    for (index, &(width, height, rgb)) in frames.iter().enumerate() {
        let expected = u128::from(width) * u128::from(height) * 3;
        if width == 0 || height == 0 || expected != rgb.len() as u128 {
            return Err(RenditionError::BadFrame {
                index,
                width,
                height,
                expected,
                found: rgb.len(),
            });
        }
    }
    let chosen: Vec<&(u32, u32, &[u8])> = if frames.len() <= MAX_FRAMES {
        frames.iter().collect()
    } else {
        (0..MAX_FRAMES).map(|i| &frames[i * (frames.len() - 1) / (MAX_FRAMES - 1)]).collect()
    };
    let cols = chosen.len().min(GRID_COLUMNS);
    let rows = chosen.len().div_ceil(cols);
    let (limit, gap) = ((view.max_side * 2) as usize, GRID_GAP as usize);
    let max_side = view.max_side as usize;
    let box_w = ((limit - gap * (cols - 1)) / cols).min(max_side);
    let box_h = ((limit - gap * (rows - 1)) / rows).min(max_side);

    let mut tiles = Vec::with_capacity(chosen.len());
    for &&(w, h, rgb) in &chosen {
        let (w, h) = (w as usize, h as usize);
        let (tw, th) = fit(w, h, box_w, box_h);
        let mut tile = shrink(rgb, w, h, PixelLayout::Rgb8, view.colour, tw, th);
        tile.blur(view.blur.radius_at(tw.max(th) as u32) as usize);
        tiles.push(tile);
    }
    let cell_w = tiles.iter().map(|t| t.width).max().unwrap_or(1);
    let cell_h = tiles.iter().map(|t| t.height).max().unwrap_or(1);
    let c = if view.colour { 3 } else { 1 };
    let mut grid =
        Plane::new(cols * cell_w + gap * (cols - 1), rows * cell_h + gap * (rows - 1), c);
    for (i, tile) in tiles.iter().enumerate() {
        let (col, row) = (i % cols, i / cols);
        let x0 = col * (cell_w + gap) + (cell_w - tile.width) / 2;
        let y0 = row * (cell_h + gap) + (cell_h - tile.height) / 2;
        for y in 0..tile.height {
            let dst = ((y0 + y) * grid.width + x0) * c;
            grid.data[dst..dst + tile.width * c].copy_from_slice(tile.row(y));
        }
    }
    finish(grid, view)
}

fn check_view(view: &View) -> Result<(), RenditionError> {
    if (MIN_SIDE..=MAX_SIDE).contains(&view.max_side) {
        Ok(())
    } else {
        Err(RenditionError::BadSize(view.max_side))
    }
}

fn finish(plane: Plane, view: &View) -> Result<Rendition, RenditionError> {
    Ok(Rendition {
        png: plane.encode_png()?,
        width: plane.width as u32,
        height: plane.height as u32,
        colour: view.colour,
        blur: view.blur,
    })
}

/// The size of a `w`×`h` image shrunk to fit in `box_w`×`box_h`, keeping its aspect ratio
/// (rounded, at least 1 pixel), never enlarged.
fn fit(w: usize, h: usize, box_w: usize, box_h: usize) -> (usize, usize) {
    if w <= box_w && h <= box_h {
        return (w, h);
    }
    let (w64, h64, bw, bh) = (w as u64, h as u64, box_w as u64, box_h as u64);
    if w64 * bh >= h64 * bw {
        (box_w, ((h64 * bw + w64 / 2) / w64).max(1) as usize)
    } else {
        (((w64 * bh + h64 / 2) / h64).max(1) as usize, box_h)
    }
}

/// `rgb` (`width` × `height` RGB pixels, a whole frame) shrunk by area averaging so that its
/// longer side is at most `max_side` (never enlarged), still in colour: the size and the pixels.
pub(crate) fn shrink_rgb(
    rgb: &[u8],
    width: u32,
    height: u32,
    max_side: u32,
) -> (u32, u32, Vec<u8>) {
    let (w, h) = (width as usize, height as usize);
    let side = max_side as usize;
    let (tw, th) = fit(w, h, side, side);
    let plane = shrink(rgb, w, h, PixelLayout::Rgb8, true, tw, th);
    (tw as u32, th as u32, plane.data)
}

/// 8-bit pixels, one (grey) or three (RGB) channels, rows top to bottom.
struct Plane {
    width: usize,
    height: usize,
    channels: usize,
    data: Vec<u8>,
}

impl Plane {
    fn new(width: usize, height: usize, channels: usize) -> Plane {
        Plane { width, height, channels, data: vec![0; width * height * channels] }
    }

    fn row(&self, y: usize) -> &[u8] {
        let len = self.width * self.channels;
        &self.data[y * len..(y + 1) * len]
    }

    /// The image turned and mirrored as EXIF orientation `o` (1–8) says a viewer should show
    /// it (as `spoor_media` does with `exif_orient`).
    fn oriented(self, o: u8) -> Plane {
        if !(2..=8).contains(&o) {
            return self;
        }
        let (w, h, c) = (self.width, self.height, self.channels);
        let (ow, oh) = if o >= 5 { (h, w) } else { (w, h) };
        let mut out = Plane::new(ow, oh, c);
        for y in 0..oh {
            for x in 0..ow {
                // The source of output pixel (x, y).
                let (sx, sy) = match o {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    _ => (w - 1 - y, x),
                };
                let (s, t) = ((sy * w + sx) * c, (y * ow + x) * c);
                out.data[t..t + c].copy_from_slice(&self.data[s..s + c]);
            }
        }
        out
    }

    /// Three box-filter passes of radius `radius` along each axis, edges clamped.
    fn blur(&mut self, radius: usize) {
        if radius == 0 {
            return;
        }
        let mut scratch = vec![0u8; self.data.len()];
        for _ in 0..3 {
            box_rows(&self.data, &mut scratch, self.width, self.channels, radius);
            std::mem::swap(&mut self.data, &mut scratch);
        }
        for _ in 0..3 {
            box_columns(&self.data, &mut scratch, self.width * self.channels, self.height, radius);
            std::mem::swap(&mut self.data, &mut scratch);
        }
    }

    fn encode_png(&self) -> Result<Vec<u8>, RenditionError> {
        let error = |e: png::EncodingError| RenditionError::Encode(e.to_string());
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
        encoder.set_color(if self.channels == 3 {
            png::ColorType::Rgb
        } else {
            png::ColorType::Grayscale
        });
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().map_err(error)?;
        writer.write_image_data(&self.data).map_err(error)?;
        writer.finish().map_err(error)?;
        Ok(out)
    }
}

/// Grey level of an RGB pixel: `(299 R + 587 G + 114 B) / 1000`, rounded.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
}

/// One row of decoded pixels as grey or RGB; alpha is dropped.
fn convert_row(src: &[u8], layout: PixelLayout, colour: bool, out: &mut [u8]) {
    match (layout, colour) {
        (PixelLayout::Gray8, false) | (PixelLayout::Rgb8, true) => out.copy_from_slice(src),
        (PixelLayout::Gray8, true) => {
            for (o, &v) in out.chunks_exact_mut(3).zip(src) {
                o.fill(v);
            }
        }
        (PixelLayout::GrayAlpha8, false) => {
            for (o, p) in out.iter_mut().zip(src.chunks_exact(2)) {
                *o = p[0];
            }
        }
        (PixelLayout::GrayAlpha8, true) => {
            for (o, p) in out.chunks_exact_mut(3).zip(src.chunks_exact(2)) {
                o.fill(p[0]);
            }
        }
        (PixelLayout::Rgb8, false) => {
            for (o, p) in out.iter_mut().zip(src.chunks_exact(3)) {
                *o = luma(p[0], p[1], p[2]);
            }
        }
        (PixelLayout::Rgba8, false) => {
            for (o, p) in out.iter_mut().zip(src.chunks_exact(4)) {
                *o = luma(p[0], p[1], p[2]);
            }
        }
        (PixelLayout::Rgba8, true) => {
            for (o, p) in out.chunks_exact_mut(3).zip(src.chunks_exact(4)) {
                o.copy_from_slice(&p[..3]);
            }
        }
    }
}

/// How the source pixels of one axis make up one output pixel. With `n` source and `on` output
/// pixels, output pixel `i` covers `[i·n/on, (i+1)·n/on)` in source pixels, and each source
/// pixel counts by the length of its overlap, in units of `1/on` pixel: the weights are integers,
/// add up to `n`, and are `on` for every pixel but the two its edges cut. Mirroring the axis
/// mirrors the weights exactly.
#[derive(Clone, Copy)]
struct Span {
    first: usize,
    last: usize,
    /// The weight of `first` (all of `n` when `first == last`).
    w_first: u64,
    /// The weight of `last` when it is not `first`.
    w_last: u64,
}

impl Span {
    fn all(n: usize, on: usize) -> Vec<Span> {
        let (n, on) = (n as u64, on as u64);
        (0..on)
            .map(|i| {
                let (lo, hi) = (i * n, (i + 1) * n);
                let (first, last) = (lo / on, (hi - 1) / on);
                let (w_first, w_last) = if first == last {
                    (hi - lo, 0)
                } else {
                    ((first + 1) * on - lo, hi - last * on)
                };
                Span { first: first as usize, last: last as usize, w_first, w_last }
            })
            .collect()
    }

    /// Each source pixel with its weight (`on` inside).
    fn weights(self, on: u64) -> impl Iterator<Item = (usize, u64)> {
        (self.first..=self.last).map(move |j| {
            let w = if j == self.first {
                self.w_first
            } else if j == self.last {
                self.w_last
            } else {
                on
            };
            (j, w)
        })
    }
}

/// One source row's weighted sums for every output column.
fn sum_across<const C: usize>(row: &[u8], spans: &[Span], on: u64, out: &mut [u64]) {
    for (span, sums) in spans.iter().zip(out.chunks_exact_mut(C)) {
        let at = |j: usize| -> [u64; C] { std::array::from_fn(|k| u64::from(row[j * C + k])) };
        let first = at(span.first);
        let mut total: [u64; C] = std::array::from_fn(|k| first[k] * span.w_first);
        if span.last > span.first {
            let mut inside = [0u64; C];
            for px in row[(span.first + 1) * C..span.last * C].chunks_exact(C) {
                for k in 0..C {
                    inside[k] += u64::from(px[k]);
                }
            }
            let last = at(span.last);
            for k in 0..C {
                total[k] += inside[k] * on + last[k] * span.w_last;
            }
        }
        sums.copy_from_slice(&total);
    }
}

/// Shrinks a `w`×`h` image to `ow`×`oh` (each at most the source's) by area averaging: each
/// output pixel is the rounded mean of the source area it covers, pixels cut by its edges
/// counting by the part inside. Exact in integers and symmetric, so shrinking then applying an
/// EXIF orientation gives exactly what orienting first would.
fn shrink(
    src: &[u8],
    w: usize,
    h: usize,
    layout: PixelLayout,
    colour: bool,
    ow: usize,
    oh: usize,
) -> Plane {
    let c = if colour { 3 } else { 1 };
    let stride = w * layout.channels();
    let (xs, ys) = (Span::all(w, ow), Span::all(h, oh));
    // Every output pixel's weights add up to w·h.
    let total = w as u64 * h as u64;
    let mut out = Plane::new(ow, oh, c);
    let mut row = vec![0u8; w * c];
    let mut across = vec![0u64; ow * c];
    // A source row cut by the edge between two output rows is summed once for both.
    let mut across_row = None;
    let mut acc = vec![0u64; ow * c];
    for (oy, span) in ys.iter().enumerate() {
        acc.fill(0);
        for (sy, wy) in span.weights(oh as u64) {
            if across_row != Some(sy) {
                convert_row(&src[sy * stride..(sy + 1) * stride], layout, colour, &mut row);
                if colour {
                    sum_across::<3>(&row, &xs, ow as u64, &mut across);
                } else {
                    sum_across::<1>(&row, &xs, ow as u64, &mut across);
                }
                across_row = Some(sy);
            }
            for (a, &s) in acc.iter_mut().zip(&across) {
                *a += wy * s;
            }
        }
        for (d, &a) in out.data[oy * ow * c..(oy + 1) * ow * c].iter_mut().zip(&acc) {
            *d = ((a + total / 2) / total) as u8;
        }
    }
    out
}

/// One box-filter pass along rows: each sample becomes the rounded mean of the `2 r + 1`
/// samples of its channel centred on it, positions past an edge reading the edge.
fn box_rows(src: &[u8], dst: &mut [u8], width: usize, c: usize, r: usize) {
    let win = (2 * r + 1) as u32;
    let last = width - 1;
    for (s, d) in src.chunks_exact(width * c).zip(dst.chunks_exact_mut(width * c)) {
        for ch in 0..c {
            let at = |x: usize| u32::from(s[x.min(last) * c + ch]);
            let mut sum: u32 = at(0) * (r as u32 + 1) + (1..=r).map(at).sum::<u32>();
            for x in 0..width {
                d[x * c + ch] = ((sum + win / 2) / win) as u8;
                sum = sum + at(x + r + 1) - at(x.saturating_sub(r));
            }
        }
    }
}

/// One box-filter pass along columns (`len` samples a row, `height` rows), as [`box_rows`].
fn box_columns(src: &[u8], dst: &mut [u8], len: usize, height: usize, r: usize) {
    let win = (2 * r + 1) as u32;
    let last = height - 1;
    let row = |y: usize| &src[y.min(last) * len..(y.min(last) + 1) * len];
    let mut sums: Vec<u32> = row(0).iter().map(|&v| u32::from(v) * (r as u32 + 1)).collect();
    for y in 1..=r {
        for (s, &v) in sums.iter_mut().zip(row(y)) {
            *s += u32::from(v);
        }
    }
    for y in 0..height {
        for (d, &s) in dst[y * len..(y + 1) * len].iter_mut().zip(&sums) {
            *d = ((s + win / 2) / win) as u8;
        }
        let (add, sub) = (row(y + r + 1), row(y.saturating_sub(r)));
        for ((s, &a), &b) in sums.iter_mut().zip(add).zip(sub) {
            *s = *s + u32::from(a) - u32::from(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One box pass along rows, summed directly for every sample.
    fn box_rows_direct(src: &[u8], width: usize, c: usize, r: usize) -> Vec<u8> {
        let win = (2 * r + 1) as u32;
        let mut out = vec![0; src.len()];
        for (y, row) in src.chunks_exact(width * c).enumerate() {
            for x in 0..width {
                for ch in 0..c {
                    let sum: u32 = (x as isize - r as isize..=x as isize + r as isize)
                        .map(|k| u32::from(row[k.clamp(0, width as isize - 1) as usize * c + ch]))
                        .sum();
                    out[(y * width + x) * c + ch] = ((sum + win / 2) / win) as u8;
                }
            }
        }
        out
    }

    fn transpose(src: &[u8], width: usize, height: usize, c: usize) -> Vec<u8> {
        let mut out = vec![0; src.len()];
        for y in 0..height {
            for x in 0..width {
                for ch in 0..c {
                    out[(x * height + y) * c + ch] = src[(y * width + x) * c + ch];
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn shrinking_commutes_with_every_orientation(
            w in 1usize..50, h in 1usize..50, side in 1usize..50, o in 1u8..=8, colour in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mut state = seed;
            let rgb: Vec<u8> = (0..w * h * 3).map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 56) as u8
            }).collect();
            let upright = Plane { width: w, height: h, channels: 3, data: rgb.clone() }.oriented(o);
            let (ow, oh) = fit(upright.width, upright.height, side, side);
            let first = shrink(&upright.data, upright.width, upright.height, PixelLayout::Rgb8, colour, ow, oh);
            let (sw, sh) = if o >= 5 { (oh, ow) } else { (ow, oh) };
            let then = shrink(&rgb, w, h, PixelLayout::Rgb8, colour, sw, sh).oriented(o);
            prop_assert_eq!((then.width, then.height), (ow, oh));
            prop_assert!(then.data == first.data);
        }

        #[test]
        fn box_passes_match_a_direct_sum(
            width in 1usize..20, height in 1usize..20, colour in any::<bool>(), r in 0usize..30,
            seed in any::<u64>(),
        ) {
            let c = if colour { 3 } else { 1 };
            let mut state = seed;
            let src: Vec<u8> = (0..width * height * c).map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 56) as u8
            }).collect();
            let mut rows = vec![0; src.len()];
            box_rows(&src, &mut rows, width, c, r);
            prop_assert_eq!(&rows, &box_rows_direct(&src, width, c, r));
            let mut cols = vec![0; src.len()];
            box_columns(&src, &mut cols, width * c, height, r);
            let direct = transpose(&box_rows_direct(&transpose(&src, width, height, c), height, c, r), height, width, c);
            prop_assert_eq!(cols, direct);
        }
    }

    #[test]
    fn orientation_maps_pixels_as_spoor_media_does() {
        // 3x2 grey image:  0 1 2 / 3 4 5 (the table of spoor-media's own test).
        let cases: [(u8, (usize, usize), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]),
            (2, (3, 2), [2, 1, 0, 5, 4, 3]),
            (3, (3, 2), [5, 4, 3, 2, 1, 0]),
            (4, (3, 2), [3, 4, 5, 0, 1, 2]),
            (5, (2, 3), [0, 3, 1, 4, 2, 5]),
            (6, (2, 3), [3, 0, 4, 1, 5, 2]),
            (7, (2, 3), [5, 2, 4, 1, 3, 0]),
            (8, (2, 3), [2, 5, 1, 4, 0, 3]),
        ];
        for (o, (w, h), want) in cases {
            let plane = Plane { width: 3, height: 2, channels: 1, data: vec![0, 1, 2, 3, 4, 5] };
            let turned = plane.oriented(o);
            assert_eq!((turned.width, turned.height), (w, h), "orientation {o}");
            assert_eq!(turned.data, want, "orientation {o}");
        }
    }

    #[test]
    fn orienting_after_shrinking_matches_orienting_first() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/testdata/pdq/reg-test-input/exif-rotn/exif-rotn-6.jpg");
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("skipped: {} is not there", path.display());
            return;
        };
        let options = spoor_media::Options { exif_orient: true, ..Default::default() };
        let upright = spoor_media::decode(&bytes, &options).unwrap();
        assert_eq!(upright.exif_orientation, Some(6));
        let (ow, oh) = fit(upright.width, upright.height, 320, 320);
        let want =
            shrink(&upright.data, upright.width, upright.height, upright.layout, false, ow, oh);
        let view = View { blur: BlurLevel::NONE, ..View::default() };
        let got = render_image(&bytes, &view, &spoor_media::Options::default()).unwrap();
        assert_eq!((got.width as usize, got.height as usize), (ow, oh));
        let mut reader = png::Decoder::new(std::io::Cursor::new(&got.png)).read_info().unwrap();
        let mut px = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut px).unwrap();
        assert!(px == want.data, "shrinking then turning differs from turning then shrinking");
    }

    #[test]
    fn area_averaging_weighs_cut_pixels_by_their_part() {
        // 3 pixels into 2: each output covers 1.5 source pixels.
        let small = shrink(&[0, 90, 180], 3, 1, PixelLayout::Gray8, false, 2, 1);
        assert_eq!(small.data, [30, 150]);
        // 2x2 into 1x1, RGBA to RGB: the plain mean, alpha dropped.
        let rgba = [10, 20, 30, 0, 20, 30, 40, 255, 30, 40, 50, 9, 41, 50, 60, 1];
        let small = shrink(&rgba, 2, 2, PixelLayout::Rgba8, true, 1, 1);
        assert_eq!(small.data, [25, 35, 45]); // 25.25, 35, 45
                                              // No shrinking: the pixels as they were.
        let rgb: Vec<u8> = (0..5 * 4 * 3).map(|i| (i * 7) as u8).collect();
        assert_eq!(shrink(&rgb, 5, 4, PixelLayout::Rgb8, true, 5, 4).data, rgb);
    }

    #[test]
    fn blur_keeps_a_flat_image_flat() {
        let mut plane = Plane { width: 37, height: 11, channels: 3, data: vec![77; 37 * 11 * 3] };
        plane.blur(16);
        assert!(plane.data.iter().all(|&v| v == 77));
    }

    #[test]
    fn luma_is_rounded() {
        assert_eq!(luma(0, 0, 0), 0);
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(200, 100, 50), 124); // 124.2
        assert_eq!(luma(255, 0, 0), 76); // 76.245
        assert_eq!(luma(0, 255, 0), 150); // 149.685
        assert_eq!(luma(0, 0, 255), 29); // 29.07
    }

    #[test]
    fn fit_keeps_the_aspect_and_never_enlarges() {
        assert_eq!(fit(1200, 800, 320, 320), (320, 213));
        assert_eq!(fit(800, 1200, 320, 320), (213, 320));
        assert_eq!(fit(100, 50, 320, 320), (100, 50));
        assert_eq!(fit(100_000, 1, 320, 320), (320, 1));
        assert_eq!(fit(640, 360, 158, 320), (158, 89));
        assert_eq!(fit(320, 320, 320, 320), (320, 320));
    }

    #[test]
    fn radii_scale_with_the_rendition() {
        let radii: Vec<u32> = (0..=4).map(|l| BlurLevel::new(l).unwrap().radius()).collect();
        assert_eq!(radii, [0, 2, 4, 8, 16]);
        assert_eq!(BlurLevel::STRONGEST.radius_at(320), 16);
        assert_eq!(BlurLevel::STRONGEST.radius_at(160), 8);
        assert_eq!(BlurLevel::STRONGEST.radius_at(640), 32);
        assert_eq!(BlurLevel::new(1).unwrap().radius_at(20), 1);
        assert_eq!(BlurLevel::NONE.radius_at(4096), 0);
        assert_eq!(BlurLevel::new(5), None);
        assert_eq!(BlurLevel::default(), BlurLevel::STRONGEST);
    }
}
