//! The changes applied to an original: each has a stable name, parsed and printed the same way.

use crate::font;
use crate::rng::Rng;
use image::{imageops, Rgb, RgbImage};
use std::fmt;
use std::str::FromStr;

/// The changes `spoor eval` applies unless told otherwise: what known material typically goes
/// through when it is passed on (re-saved, shrunk, cropped, turned, framed, captioned, edited).
pub const STANDARD: &[&str] = &[
    "resize_0.5",
    "resize_0.25",
    "jpeg_q30",
    "jpeg_q50",
    "jpeg_q70",
    "crop_5",
    "crop_10",
    "crop_20",
    "rotate_90",
    "rotate_180",
    "mirror",
    "border_5_white",
    "border_10_black",
    "border_15_red",
    "letterbox_12",
    "pillarbox_12",
    "text",
    "brightness_+30",
    "contrast_+30",
    "greyscale",
];

/// A colour for frames and bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// 255, 255, 255.
    White,
    /// 0, 0, 0.
    Black,
    /// 128, 128, 128.
    Grey,
    /// 200, 30, 40.
    Red,
}

impl Colour {
    fn rgb(self) -> Rgb<u8> {
        match self {
            Colour::White => Rgb([255, 255, 255]),
            Colour::Black => Rgb([0, 0, 0]),
            Colour::Grey => Rgb([128, 128, 128]),
            Colour::Red => Rgb([200, 30, 40]),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Colour::White => "white",
            Colour::Black => "black",
            Colour::Grey => "grey",
            Colour::Red => "red",
        }
    }
}

/// One change. Its text form (`jpeg_q30`, `crop_10`, `border_5_white`, …) is what
/// `--changes` takes and what every record names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// Scale both sides by the factor (0 < f < 1), bicubic (Catmull-Rom), as Pillow's default.
    Resize(f32),
    /// Re-encode as JPEG at this quality (1–100), 4:2:0, as most software saves.
    Jpeg(u8),
    /// Keep the centre, removing this percentage (1–50) of each side's length, half from each
    /// end.
    Crop(u8),
    /// Turn clockwise by 90, 180 or 270 degrees.
    Rotate(u16),
    /// Mirror left to right.
    Mirror,
    /// Mirror top to bottom.
    Flip,
    /// Add a frame around the picture: this percentage (1–50) of the width on the left and on
    /// the right, and of the height above and below.
    Border(u8, Colour),
    /// Black bars above and below, each this percentage (1–50) of the height: a widescreen
    /// picture shown on a taller screen.
    Letterbox(u8),
    /// Black bars left and right, each this percentage (1–50) of the width.
    Pillarbox(u8),
    /// A caption: two lines of large white text with a black outline, over the top and the
    /// bottom of the picture (words and placement from the seed).
    Text,
    /// Three opaque bars across the picture (a quarter of its height in all).
    Bars,
    /// Brightness: every channel multiplied by `1 + p/100` (−90 ≤ p ≤ 200, p ≠ 0).
    Brightness(i16),
    /// Contrast: every channel moved away from (or towards) the image's mean grey by
    /// `1 + p/100` (−90 ≤ p ≤ 200, p ≠ 0).
    Contrast(i16),
    /// Grey: each pixel's luma (ITU-R 601) in all three channels.
    Greyscale,
}

/// A change name that is not one of the known forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown change {name:?}: {why} (known forms: resize_0.5, jpeg_q30, crop_10, rotate_90|180|270, mirror, flip, border_5_white|black|grey|red, letterbox_12, pillarbox_12, text, bars, brightness_+30, contrast_-20, greyscale)")]
pub struct ChangeError {
    /// The name given.
    pub name: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl FromStr for Change {
    type Err = ChangeError;

    fn from_str(s: &str) -> Result<Change, ChangeError> {
        let err = |why| ChangeError { name: s.to_string(), why };
        let percent = |t: &str, lo: i64, hi: i64| -> Result<i64, ChangeError> {
            let digits = t.strip_prefix('+').unwrap_or(t);
            if digits.is_empty() || digits.len() > 4 {
                return Err(err("a whole number is expected after the underscore"));
            }
            let v: i64 =
                t.parse().map_err(|_| err("a whole number is expected after the underscore"))?;
            if v < lo || v > hi || v == 0 {
                return Err(err("the number is out of range"));
            }
            Ok(v)
        };
        let (kind, arg) = match s.split_once('_') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        match (kind, arg) {
            ("mirror", None) => Ok(Change::Mirror),
            ("flip", None) => Ok(Change::Flip),
            ("text", None) => Ok(Change::Text),
            ("bars", None) => Ok(Change::Bars),
            ("greyscale", None) => Ok(Change::Greyscale),
            ("resize", Some(a)) => {
                if a.len() > 8
                    || !a.starts_with("0.")
                    || !a[2..].bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(err("resize takes a factor between 0 and 1, such as 0.5"));
                }
                let f: f32 = a.parse().map_err(|_| err("resize takes a factor such as 0.5"))?;
                if !(0.01..1.0).contains(&f) {
                    return Err(err("resize takes a factor between 0.01 and 1"));
                }
                Ok(Change::Resize(f))
            }
            ("jpeg", Some(a)) => {
                let q =
                    a.strip_prefix('q').ok_or_else(|| err("jpeg takes a quality such as q30"))?;
                Ok(Change::Jpeg(percent(q, 1, 100)? as u8))
            }
            ("crop", Some(a)) => Ok(Change::Crop(percent(a, 1, 50)? as u8)),
            ("letterbox", Some(a)) => Ok(Change::Letterbox(percent(a, 1, 50)? as u8)),
            ("pillarbox", Some(a)) => Ok(Change::Pillarbox(percent(a, 1, 50)? as u8)),
            ("rotate", Some(a)) => match a {
                "90" => Ok(Change::Rotate(90)),
                "180" => Ok(Change::Rotate(180)),
                "270" => Ok(Change::Rotate(270)),
                _ => Err(err("rotate takes 90, 180 or 270")),
            },
            ("border", Some(a)) => {
                let (p, colour) = a.split_once('_').unwrap_or((a, "white"));
                let colour = match colour {
                    "white" => Colour::White,
                    "black" => Colour::Black,
                    "grey" => Colour::Grey,
                    "red" => Colour::Red,
                    _ => return Err(err("border colours are white, black, grey and red")),
                };
                Ok(Change::Border(percent(p, 1, 50)? as u8, colour))
            }
            ("brightness", Some(a)) => Ok(Change::Brightness(percent(a, -90, 200)? as i16)),
            ("contrast", Some(a)) => Ok(Change::Contrast(percent(a, -90, 200)? as i16)),
            _ => Err(err("not a known change")),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Change::Resize(x) => write!(f, "resize_{x}"),
            Change::Jpeg(q) => write!(f, "jpeg_q{q}"),
            Change::Crop(p) => write!(f, "crop_{p}"),
            Change::Rotate(d) => write!(f, "rotate_{d}"),
            Change::Mirror => f.write_str("mirror"),
            Change::Flip => f.write_str("flip"),
            Change::Border(p, c) => write!(f, "border_{p}_{}", c.name()),
            Change::Letterbox(p) => write!(f, "letterbox_{p}"),
            Change::Pillarbox(p) => write!(f, "pillarbox_{p}"),
            Change::Text => f.write_str("text"),
            Change::Bars => f.write_str("bars"),
            Change::Brightness(p) => write!(f, "brightness_{p:+}"),
            Change::Contrast(p) => write!(f, "contrast_{p:+}"),
            Change::Greyscale => f.write_str("greyscale"),
        }
    }
}

/// The standard changes, parsed.
pub fn standard() -> Vec<Change> {
    STANDARD.iter().map(|s| s.parse().expect("the standard changes parse")).collect()
}

/// How a changed copy is stored: JPEG changes as JPEG (that is the change), all others
/// losslessly as PNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Lossless.
    Png,
    /// Lossy, at this quality (1–100).
    Jpeg(u8),
}

impl Encoding {
    /// The file extension of a copy so encoded.
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Png => "png",
            Encoding::Jpeg(_) => "jpg",
        }
    }
}

impl Change {
    /// The file encoding of a copy made by this change.
    pub fn encoding(&self) -> Encoding {
        match self {
            Change::Jpeg(q) => Encoding::Jpeg(*q),
            _ => Encoding::Png,
        }
    }

    /// Applies the change to `img`; `rng` decides what is random (the caption's words and
    /// placement), so a copy depends only on the original and the seed.
    pub fn apply(&self, img: &RgbImage, rng: &mut Rng) -> RgbImage {
        let (w, h) = img.dimensions();
        match *self {
            Change::Resize(f) => {
                let nw = ((w as f32 * f).round() as u32).max(1);
                let nh = ((h as f32 * f).round() as u32).max(1);
                imageops::resize(img, nw, nh, imageops::FilterType::CatmullRom)
            }
            Change::Jpeg(_) => img.clone(),
            Change::Crop(p) => {
                let cut_w = (w as u64 * u64::from(p) / 100) as u32;
                let cut_h = (h as u64 * u64::from(p) / 100) as u32;
                let (nw, nh) = ((w - cut_w).max(1), (h - cut_h).max(1));
                imageops::crop_imm(img, cut_w / 2, cut_h / 2, nw, nh).to_image()
            }
            Change::Rotate(90) => imageops::rotate90(img),
            Change::Rotate(180) => imageops::rotate180(img),
            Change::Rotate(_) => imageops::rotate270(img),
            Change::Mirror => imageops::flip_horizontal(img),
            Change::Flip => imageops::flip_vertical(img),
            Change::Border(p, colour) => {
                let bw = (w as u64 * u64::from(p) / 100).max(1) as u32;
                let bh = (h as u64 * u64::from(p) / 100).max(1) as u32;
                let mut out = RgbImage::from_pixel(w + 2 * bw, h + 2 * bh, colour.rgb());
                imageops::replace(&mut out, img, i64::from(bw), i64::from(bh));
                out
            }
            Change::Letterbox(p) => {
                let bh = (h as u64 * u64::from(p) / 100).max(1) as u32;
                let mut out = RgbImage::from_pixel(w, h + 2 * bh, Rgb([0, 0, 0]));
                imageops::replace(&mut out, img, 0, i64::from(bh));
                out
            }
            Change::Pillarbox(p) => {
                let bw = (w as u64 * u64::from(p) / 100).max(1) as u32;
                let mut out = RgbImage::from_pixel(w + 2 * bw, h, Rgb([0, 0, 0]));
                imageops::replace(&mut out, img, i64::from(bw), 0);
                out
            }
            Change::Text => {
                let mut out = img.clone();
                font::caption(&mut out, rng);
                out
            }
            Change::Bars => {
                let mut out = img.clone();
                // Three bars, each a twelfth of the height, at a quarter, a half and three
                // quarters down.
                let bar = (h / 12).max(1);
                for k in 1..=3u32 {
                    let top = (h * k / 4).saturating_sub(bar / 2);
                    for y in top..(top + bar).min(h) {
                        for x in 0..w {
                            out.put_pixel(x, y, Rgb([0, 0, 0]));
                        }
                    }
                }
                out
            }
            Change::Brightness(p) => {
                let m = 1.0 + f32::from(p) / 100.0;
                map_channels(img, |v| v * m)
            }
            Change::Contrast(p) => {
                let m = 1.0 + f32::from(p) / 100.0;
                let mean = mean_luma(img);
                map_channels(img, |v| mean + (v - mean) * m)
            }
            Change::Greyscale => {
                let mut out = img.clone();
                for px in out.pixels_mut() {
                    let [r, g, b] = px.0;
                    let y =
                        (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000;
                    let y = y.min(255) as u8;
                    *px = Rgb([y, y, y]);
                }
                out
            }
        }
    }
}

fn map_channels(img: &RgbImage, f: impl Fn(f32) -> f32) -> RgbImage {
    let mut out = img.clone();
    for v in out.iter_mut() {
        *v = f(f32::from(*v)).round().clamp(0.0, 255.0) as u8;
    }
    out
}

fn mean_luma(img: &RgbImage) -> f32 {
    let n = u64::from(img.width()) * u64::from(img.height());
    if n == 0 {
        return 128.0;
    }
    let sum: u64 = img
        .pixels()
        .map(|p| 299 * u64::from(p.0[0]) + 587 * u64::from(p.0[1]) + 114 * u64::from(p.0[2]))
        .sum();
    (sum as f64 / (n as f64 * 1000.0)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_say_why() {
        for name in STANDARD.iter().chain(&[
            "rotate_270",
            "flip",
            "bars",
            "border_15_black",
            "contrast_-20",
        ]) {
            let c: Change = name.parse().unwrap();
            assert_eq!(c.to_string(), *name);
        }
        for bad in [
            "",
            "resize",
            "resize_2",
            "resize_0.",
            "resize_1e-3",
            "jpeg_30",
            "jpeg_q0",
            "jpeg_q101",
            "crop_0",
            "crop_51",
            "crop_-5",
            "rotate_45",
            "border_5_blue",
            "letterbox_0",
            "pillarbox_60",
            "letterbox",
            "brightness_0",
            "brightness_+",
            "contrast_99999",
            "mirror_5",
            "blur",
        ] {
            let e = bad.parse::<Change>().unwrap_err();
            assert!(e.to_string().contains("unknown change"), "{bad}: {e}");
        }
    }

    #[test]
    fn geometry_of_each_change() {
        let img = RgbImage::from_fn(200, 100, |x, y| Rgb([x as u8, y as u8, 7]));
        let mut rng = Rng::new(1);
        let size = |c: &str| {
            let out = c.parse::<Change>().unwrap().apply(&img, &mut Rng::new(1));
            out.dimensions()
        };
        assert_eq!(size("resize_0.5"), (100, 50));
        assert_eq!(size("resize_0.25"), (50, 25));
        assert_eq!(size("crop_10"), (180, 90));
        assert_eq!(size("rotate_90"), (100, 200));
        assert_eq!(size("border_5_white"), (220, 110));
        assert_eq!(size("letterbox_12"), (200, 124));
        assert_eq!(size("pillarbox_12"), (248, 100));
        let boxed = "letterbox_12".parse::<Change>().unwrap().apply(&img, &mut rng);
        assert_eq!(boxed.get_pixel(50, 11), &Rgb([0, 0, 0]));
        assert_eq!(boxed.get_pixel(50, 12), img.get_pixel(50, 0));
        let rot = "rotate_90".parse::<Change>().unwrap().apply(&img, &mut rng);
        // Clockwise: the top-left pixel goes to the top-right corner.
        assert_eq!(rot.get_pixel(99, 0), img.get_pixel(0, 0));
        let mirror = Change::Mirror.apply(&img, &mut rng);
        assert_eq!(mirror.get_pixel(199, 5), img.get_pixel(0, 5));
        let framed = "border_5_black".parse::<Change>().unwrap().apply(&img, &mut rng);
        assert_eq!(framed.get_pixel(0, 0), &Rgb([0, 0, 0]));
        assert_eq!(framed.get_pixel(10 + 3, 5 + 4), img.get_pixel(3, 4));
        let crop = "crop_20".parse::<Change>().unwrap().apply(&img, &mut rng);
        assert_eq!(crop.get_pixel(0, 0), img.get_pixel(20, 10));
        let grey = Change::Greyscale.apply(&img, &mut rng);
        assert!(grey.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
        let bright = "brightness_+30".parse::<Change>().unwrap().apply(&img, &mut rng);
        assert_eq!(bright.get_pixel(100, 50).0, [130, 65, 9]);
        let caption = Change::Text.apply(&img, &mut Rng::new(3));
        assert_ne!(caption, img, "a caption changes pixels");
        assert_eq!(
            caption,
            Change::Text.apply(&img, &mut Rng::new(3)),
            "and depends only on the seed"
        );
    }
}
