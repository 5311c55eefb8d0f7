//! Frames: uniform borders around a picture — a passe-partout added before reposting, the
//! letterbox or pillarbox bars of a video player's screenshot. PDQ hashes the whole picture,
//! so a frame of 5 % moves a copy far from its original's hash. [`find_frame`] finds such a
//! frame (each side on its own, any colour, with room for compression noise) and
//! [`pdq_unframed`] hashes what is inside it: bit for bit [`super::pdq`] of the picture cut to
//! its inner rectangle, so the same picture framed and unframed gives the same hash.
//!
//! A side is framed when its outermost line (row or column) is of one colour and the lines
//! after it keep that colour, for at least [`MIN_SIDE_FRACTION`] of the picture's extent on that
//! side (two lines from 101 pixels on; small pictures, one), and then end: a frame ends where
//! the picture begins, so a side that is one colour as far as may be cut is not a frame. A line keeps the colour when its mean differs from it by at most [`MEAN_TOLERANCE`]
//! in every channel and at least [`NEAR_SHARE`] of its pixels are within [`PIXEL_TOLERANCE`]
//! in every channel: a JPEG's ringing next to the picture stays in, the picture's own edge
//! does not. What is inside must keep at least [`MIN_INNER_FRACTION`] of each dimension and
//! [`MIN_INNER_PIXELS`] pixels (PDQ's smallest), so a picture that is mostly one colour is not
//! cut to a sliver.

use super::{pdq_rows, Pdq, PixelLayout, Pixels};
use crate::pdq::downscale::LumaRows;

/// Largest difference of a line's mean from the frame's colour, per channel (0–255).
pub const MEAN_TOLERANCE: u32 = 12;
/// Largest difference of a pixel from the frame's colour, per channel, for it to count as near.
pub const PIXEL_TOLERANCE: u8 = 40;
/// Share of a line's pixels that must be near the frame's colour (in thousandths).
pub const NEAR_SHARE: usize = 960;
/// A side counts as framed from this share of the picture's extent (thousandths, rounded up to
/// whole lines).
pub const MIN_SIDE_FRACTION: usize = 10;
/// What is inside keeps at least this share of each dimension (thousandths).
pub const MIN_INNER_FRACTION: usize = 250;
/// What is inside keeps at least this many pixels in each dimension.
pub const MIN_INNER_PIXELS: usize = super::MIN_HASHABLE_DIM;

/// The widths of a picture's frame, in pixels, side by side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Columns cut on the left.
    pub left: usize,
    /// Rows cut at the top.
    pub top: usize,
    /// Columns cut on the right.
    pub right: usize,
    /// Rows cut at the bottom.
    pub bottom: usize,
}

impl Frame {
    /// Whether no side is framed.
    pub fn is_empty(&self) -> bool {
        *self == Frame::default()
    }
}

/// The RGB of pixel `(x, y)`.
#[inline(always)]
fn rgb(px: &Pixels<'_>, x: usize, y: usize) -> [u8; 3] {
    let c = px.layout.channels();
    let i = (y * px.width + x) * c;
    match px.layout {
        PixelLayout::Gray8 | PixelLayout::GrayAlpha8 => [px.data[i]; 3],
        PixelLayout::Rgb8 | PixelLayout::Rgba8 => [px.data[i], px.data[i + 1], px.data[i + 2]],
    }
}

/// A line of pixels: `n` pixels from `(x0, y0)` stepping by `(dx, dy)`.
#[derive(Clone, Copy)]
struct Line {
    x0: usize,
    y0: usize,
    dx: usize,
    dy: usize,
    n: usize,
}

impl Line {
    fn pixels<'p>(self, px: &'p Pixels<'_>) -> impl Iterator<Item = [u8; 3]> + 'p {
        (0..self.n).map(move |i| rgb(px, self.x0 + i * self.dx, self.y0 + i * self.dy))
    }
}

/// The per-channel median of a line: the colour a frame would have.
fn median(px: &Pixels<'_>, line: Line) -> [u8; 3] {
    let mut hist = [[0usize; 256]; 3];
    for p in line.pixels(px) {
        for c in 0..3 {
            hist[c][usize::from(p[c])] += 1;
        }
    }
    let half = line.n / 2;
    std::array::from_fn(|c| {
        let mut seen = 0;
        for (v, &k) in hist[c].iter().enumerate() {
            seen += k;
            if seen > half {
                return v as u8;
            }
        }
        255
    })
}

/// Whether a line keeps the colour `c`.
fn keeps(px: &Pixels<'_>, line: Line, c: [u8; 3]) -> bool {
    let mut sums = [0u64; 3];
    let mut near = 0usize;
    for p in line.pixels(px) {
        let mut ok = true;
        for k in 0..3 {
            sums[k] += u64::from(p[k]);
            ok &= p[k].abs_diff(c[k]) <= PIXEL_TOLERANCE;
        }
        near += usize::from(ok);
    }
    let n = line.n as u64;
    let mean_ok = (0..3).all(|k| {
        // |sum/n − c| ≤ tol, in whole numbers.
        sums[k].abs_diff(u64::from(c[k]) * n) <= u64::from(MEAN_TOLERANCE) * n
    });
    mean_ok && near * 1000 >= NEAR_SHARE * line.n
}

/// How many lines from one edge keep the outermost line's colour before one does not (0 when
/// the outermost line is not of one colour, or when all `limit` lines looked at keep it: no
/// picture began). `line(i)` is the `i`-th line from the edge.
fn depth(px: &Pixels<'_>, limit: usize, line: impl Fn(usize) -> Line) -> usize {
    if limit == 0 {
        return 0;
    }
    let colour = median(px, line(0));
    // One line more than may be cut: it must be the picture's.
    let n = (0..=limit).take_while(|&i| keeps(px, line(i), colour)).count();
    if n > limit {
        0
    } else {
        n
    }
}

/// The picture's frame, or `None` when no side is framed (or what is inside would be too
/// small to hash: see the module's rules).
pub fn find_frame(px: Pixels<'_>) -> Option<Frame> {
    let (w, h) = (px.width, px.height);
    if w < MIN_INNER_PIXELS || h < MIN_INNER_PIXELS {
        return None;
    }
    let min_side = |extent: usize| (extent * MIN_SIDE_FRACTION).div_ceil(1000).max(1);
    let keep_w = (w * MIN_INNER_FRACTION).div_ceil(1000).max(MIN_INNER_PIXELS);
    let keep_h = (h * MIN_INNER_FRACTION).div_ceil(1000).max(MIN_INNER_PIXELS);
    // Rows first, over the whole width; then columns, over the rows between.
    let row = |y: usize| Line { x0: 0, y0: y, dx: 1, dy: 0, n: w };
    let room_h = h - keep_h;
    let mut top = depth(&px, room_h, row);
    let mut bottom = depth(&px, room_h - top, |i| row(h - 1 - i));
    for side in [&mut top, &mut bottom] {
        if *side < min_side(h) {
            *side = 0;
        }
    }
    let inner_h = h - top - bottom;
    let column = |x: usize| Line { x0: x, y0: top, dx: 0, dy: 1, n: inner_h };
    let room_w = w - keep_w;
    let mut left = depth(&px, room_w, column);
    let mut right = depth(&px, room_w - left, |i| column(w - 1 - i));
    for side in [&mut left, &mut right] {
        if *side < min_side(w) {
            *side = 0;
        }
    }
    let frame = Frame { left, top, right, bottom };
    (!frame.is_empty()).then_some(frame)
}

/// Luma rows of the inside of a frame.
struct Inner<'a> {
    px: Pixels<'a>,
    frame: Frame,
}

impl LumaRows for Inner<'_> {
    fn width(&self) -> usize {
        self.px.width - self.frame.left - self.frame.right
    }
    fn height(&self) -> usize {
        self.px.height - self.frame.top - self.frame.bottom
    }
    fn fill_row(&mut self, y: usize, out: &mut [f32]) {
        let n = self.width();
        let out = &mut out[..n];
        let rows = super::PixelRows { px: self.px };
        rows.luma_span(y + self.frame.top, self.frame.left, n, |x, v| out[x] = v);
    }
    // `l` is both a row offset and a lane index.
    #[allow(clippy::needless_range_loop)]
    fn fill_band(&mut self, y0: usize, lanes: usize, out: &mut [[f32; 8]]) {
        let n = self.width();
        let out = &mut out[..n];
        let rows = super::PixelRows { px: self.px };
        for l in 0..lanes {
            rows.luma_span(y0 + l + self.frame.top, self.frame.left, n, |x, v| out[x][l] = v);
        }
    }
}

/// The picture's frame and the PDQ of what is inside it, or `None` when it has no frame.
pub fn pdq_unframed(px: Pixels<'_>) -> Option<(Frame, Pdq)> {
    let frame = find_frame(px)?;
    Some((frame, pdq_rows(&mut Inner { px, frame })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdq::pdq;

    /// A textured RGB picture (no uniform line anywhere).
    fn picture(w: usize, h: usize, seed: u32) -> Vec<u8> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut out = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let base = ((x * 7 + y * 3) % 200) as u32;
                for c in 0..3u32 {
                    out.push((base + ((s >> (c * 8)) & 0x37)) as u8);
                }
            }
        }
        out
    }

    /// `inner` (w×h RGB) inside a frame of colour `c` with the given widths.
    fn framed(inner: &[u8], w: usize, h: usize, f: Frame, c: [u8; 3]) -> (Vec<u8>, usize, usize) {
        let (fw, fh) = (w + f.left + f.right, h + f.top + f.bottom);
        let mut out = Vec::with_capacity(fw * fh * 3);
        for y in 0..fh {
            for x in 0..fw {
                let inside = x >= f.left && x < f.left + w && y >= f.top && y < f.top + h;
                if inside {
                    let i = ((y - f.top) * w + (x - f.left)) * 3;
                    out.extend_from_slice(&inner[i..i + 3]);
                } else {
                    out.extend_from_slice(&c);
                }
            }
        }
        (out, fw, fh)
    }

    fn px(data: &[u8], w: usize, h: usize) -> Pixels<'_> {
        Pixels::new(data, w, h, PixelLayout::Rgb8).unwrap()
    }

    #[test]
    fn a_frame_of_any_colour_and_width_is_found_and_hashes_as_the_picture() {
        let (w, h) = (240, 180);
        let inner = picture(w, h, 1);
        let want = pdq(px(&inner, w, h)).hash;
        assert_eq!(find_frame(px(&inner, w, h)), None, "a textured picture has no frame");
        let frames = [
            Frame { left: 12, top: 9, right: 12, bottom: 9 }, // 5 %
            Frame { left: 36, top: 27, right: 36, bottom: 27 }, // 15 %
            Frame { left: 0, top: 30, right: 0, bottom: 30 }, // letterbox
            Frame { left: 40, top: 0, right: 40, bottom: 0 }, // pillarbox
            Frame { left: 0, top: 0, right: 0, bottom: 20 },  // a strip below
        ];
        for f in frames {
            for c in [[255, 255, 255], [0, 0, 0], [200, 30, 30], [128, 128, 128]] {
                let (data, fw, fh) = framed(&inner, w, h, f, c);
                let found = find_frame(px(&data, fw, fh));
                assert_eq!(found, Some(f), "{f:?} {c:?}");
                let (_, got) = pdq_unframed(px(&data, fw, fh)).unwrap();
                assert_eq!(got.hash, want, "{f:?} {c:?}: the inside hashes as the picture");
            }
        }
    }

    #[test]
    fn compression_noise_stays_in_the_frame() {
        let (w, h) = (200, 200);
        let inner = picture(w, h, 2);
        let f = Frame { left: 20, top: 20, right: 20, bottom: 20 };
        let (mut data, fw, fh) = framed(&inner, w, h, f, [250, 250, 250]);
        // Noise of ±20 on every frame pixel and a few outliers, as a JPEG leaves them.
        let mut s = 7u32;
        for y in 0..fh {
            for x in 0..fw {
                let inside = (20..220).contains(&x) && (20..220).contains(&y);
                if inside {
                    continue;
                }
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let i = (y * fw + x) * 3;
                let d = (s % 41) as i32 - 20;
                let outlier = s.is_multiple_of(97);
                for c in 0..3 {
                    let v = if outlier { 90 } else { (i32::from(data[i + c]) + d).clamp(0, 255) };
                    data[i + c] = v as u8;
                }
            }
        }
        assert_eq!(find_frame(px(&data, fw, fh)), Some(f));
    }

    #[test]
    fn a_plain_picture_is_not_cut_to_a_sliver() {
        // One colour everywhere but a small mark: the inside would be under a quarter.
        let (w, h) = (200, 200);
        let mut data = vec![255u8; w * h * 3];
        for y in 95..105 {
            for x in 95..105 {
                let i = (y * w + x) * 3;
                data[i..i + 3].copy_from_slice(&[0, 0, 0]);
            }
        }
        let f = find_frame(px(&data, w, h)).unwrap();
        assert!(w - f.left - f.right >= 50 && h - f.top - f.bottom >= 50, "{f:?}");
        // One colour as far as may be cut: no picture began, no frame.
        let plain = vec![255u8; 40 * 40 * 3];
        assert_eq!(find_frame(px(&plain, 20, 80)), None);
        assert_eq!(find_frame(px(&plain, 40, 40)), None);
        // Too small to have an inside worth hashing.
        assert_eq!(find_frame(px(&plain[..4 * 40 * 3], 4, 40)), None);
        // A thumbnail framed by a single line: small pictures have one-line frames.
        let (w, h) = (28, 28);
        let inner = picture(w, h, 5);
        let f = Frame { left: 1, top: 1, right: 1, bottom: 1 };
        let (data, fw, fh) = framed(&inner, w, h, f, [255, 255, 255]);
        assert_eq!(find_frame(px(&data, fw, fh)), Some(f));
    }

    #[test]
    fn one_line_of_colour_is_not_a_frame() {
        let (w, h) = (200, 150);
        let inner = picture(w, h, 3);
        let (data, fw, fh) =
            framed(&inner, w, h, Frame { left: 1, top: 1, right: 0, bottom: 0 }, [0, 0, 0]);
        assert_eq!(find_frame(px(&data, fw, fh)), None);
    }

    #[test]
    fn grey_pictures_have_frames_too() {
        let (w, h) = (120, 100);
        let rgb = picture(w, h, 4);
        let (data, fw, fh) =
            framed(&rgb, w, h, Frame { left: 10, top: 10, right: 10, bottom: 10 }, [0, 0, 0]);
        let grey: Vec<u8> = data.chunks_exact(3).map(|p| p[1]).collect();
        let g = Pixels::new(&grey, fw, fh, PixelLayout::Gray8).unwrap();
        assert_eq!(find_frame(g), Some(Frame { left: 10, top: 10, right: 10, bottom: 10 }));
    }
}
