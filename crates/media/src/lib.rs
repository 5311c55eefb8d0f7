//! Bytes to pixels: image decoding for hashing, with explicit limits.
//!
//! * Formats are recognised by their bytes, never by a file name: JPEG, PNG, GIF (first
//!   frame), WebP, BMP and TIFF.
//! * Colour handling follows Pillow's `convert("RGB")`, which is what Meta's HMA and the PDQ
//!   reference tools hash: alpha is dropped (not composited), palettes are expanded, 16-bit
//!   samples keep their high byte, and 16-bit grey is clipped to 255 as Pillow's `I;16 → RGB`
//!   does.
//! * JPEG can take a faster path ([`Options::jpeg_luma_only`]): only the luma (Y) plane is
//!   decoded, since `0.299 R + 0.587 G + 0.114 B` of the decoded RGB is Y up to rounding and
//!   clipping. By default the full colour decode is hashed, as the reference does.
//! * Limits are checked from the header, before any pixel buffer is allocated: a file claiming
//!   60000×60000 pixels is refused at once ([`DecodeError::TooManyPixels`]).
//! * EXIF orientation is ignored unless asked for ([`Options::exif_orient`]), as the reference
//!   tools and HMA do; the dihedral hashes cover rotated copies.
//!
//! ```no_run
//! let bytes = std::fs::read("photo.jpg").unwrap();
//! let image = spoor_media::decode(&bytes, &spoor_media::Options::default()).unwrap();
//! let pdq = spoor_hash::pdq::pdq(image.pixels());
//! println!("{}x{} {} q{}", image.width, image.height, pdq.hash, pdq.quality);
//! ```

pub mod video;

use image::{DynamicImage, ImageDecoder, ImageFormat};
use spoor_hash::pdq::{PixelLayout, Pixels};
use std::fmt;
use std::io::Cursor;

/// Default maximum number of pixels (100 megapixels).
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;
/// Default maximum file size (512 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Resource limits for decoding one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest width × height accepted.
    pub max_pixels: u64,
    /// Largest input accepted, in bytes.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pixels: DEFAULT_MAX_PIXELS, max_file_bytes: DEFAULT_MAX_FILE_BYTES }
    }
}

/// How to decode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Resource limits.
    pub limits: Limits,
    /// Apply the EXIF orientation tag (rotate/mirror the pixels as a viewer would show them).
    pub exif_orient: bool,
    /// Decode only the luma (Y) plane of colour JPEGs. About a quarter faster; PDQ hashes
    /// then differ from the reference's (which hashes luma of the decoded RGB) by a few more
    /// bits, mostly on low-quality images.
    pub jpeg_luma_only: bool,
}

/// An image format Spoor can decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG / JFIF / EXIF.
    Jpeg,
    /// PNG.
    Png,
    /// GIF (the first frame is hashed).
    Gif,
    /// WebP, lossy or lossless.
    Webp,
    /// Windows bitmap.
    Bmp,
    /// TIFF.
    Tiff,
}

impl Format {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Gif => "gif",
            Format::Webp => "webp",
            Format::Bmp => "bmp",
            Format::Tiff => "tiff",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Png => ImageFormat::Png,
            Format::Gif => ImageFormat::Gif,
            Format::Webp => ImageFormat::WebP,
            Format::Bmp => ImageFormat::Bmp,
            Format::Tiff => ImageFormat::Tiff,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Gif => "GIF",
            Format::Webp => "WebP",
            Format::Bmp => "BMP",
            Format::Tiff => "TIFF",
        })
    }
}

/// Recognises an image format from the first bytes of a file.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some(Format::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(Format::Png),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(Format::Gif),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(Format::Webp),
        [b'B', b'M', ..] if bytes.len() >= 26 => Some(Format::Bmp),
        [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => Some(Format::Tiff),
        [b'I', b'I', 43, 0, ..] | [b'M', b'M', 0, 43, ..] => Some(Format::Tiff),
        _ => None,
    }
}

/// Why an input could not be decoded. Every message says what is wrong and, where there is
/// something to do about it, what.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Zero-byte input.
    #[error("empty file: there are no bytes to decode")]
    Empty,
    /// Not a format we decode.
    #[error("not a supported image: the bytes are not JPEG, PNG, GIF, WebP, BMP or TIFF{}", hint(.0))]
    UnknownFormat(Option<&'static str>),
    /// Over the file size limit.
    #[error(
        "file is {size} bytes, over the limit of {max} bytes; raise --max-file-size to hash it"
    )]
    FileTooLarge {
        /// Input size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Over the pixel limit (checked from the header, before decoding).
    #[error("image is {width}x{height} ({} megapixels), over the limit of {} megapixels; raise --max-pixels to hash it", mp(*.width as u64 * *.height as u64), mp(*.max))]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit.
        max: u64,
    },
    /// A zero-sized image.
    #[error("{format} image declares a size of {width}x{height}: nothing to hash")]
    ZeroSize {
        /// Format.
        format: Format,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The bytes are damaged, truncated or use a feature the decoder does not support.
    #[error("corrupt, truncated or unsupported {format}: {detail}")]
    Corrupt {
        /// Format.
        format: Format,
        /// What the decoder reported.
        detail: String,
    },
}

fn hint(kind: &Option<&'static str>) -> String {
    kind.map(|k| format!(" (it looks like {k})")).unwrap_or_default()
}

fn mp(pixels: u64) -> String {
    let m = pixels as f64 / 1e6;
    if m >= 10.0 {
        format!("{m:.0}")
    } else {
        format!("{m:.1}")
    }
}

/// Names some common non-image formats, for a friendlier error.
fn what_is_it(bytes: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| bytes.starts_with(p);
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        if brand == b"avif" || brand == b"avis" {
            return Some("AVIF, which is not supported yet");
        }
        if brand.starts_with(b"hei") || brand.starts_with(b"mif1") || brand == b"heix" {
            return Some("HEIF/HEIC, which is not supported yet");
        }
        return Some("an MP4/QuickTime video");
    }
    if starts(b"%PDF") {
        Some("a PDF document")
    } else if starts(b"PK\x03\x04") {
        Some("a ZIP archive")
    } else if starts(b"\x1f\x8b") {
        Some("gzip-compressed data")
    } else if starts(b"\x1A\x45\xDF\xA3") {
        Some("a Matroska/WebM video")
    } else if starts(b"RIFF") && bytes.len() >= 12 && &bytes[8..12] == b"AVI " {
        Some("an AVI video")
    } else if starts(b"\x00\x00\x01\x00") {
        Some("a Windows icon")
    } else if starts(b"<svg") || starts(b"<?xml") {
        Some("SVG/XML, a vector format that is not hashed")
    } else {
        None
    }
}

/// A decoded image: 8-bit pixels, rows top to bottom.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The format the bytes were in.
    pub format: Format,
    /// Width in pixels (after EXIF orientation, if applied).
    pub width: usize,
    /// Height in pixels (after EXIF orientation, if applied).
    pub height: usize,
    /// Layout of `data`.
    pub layout: PixelLayout,
    /// The pixels.
    pub data: Vec<u8>,
    /// The EXIF orientation tag (1–8), if the file has one.
    pub exif_orientation: Option<u8>,
}

impl Decoded {
    /// The pixels, for hashing.
    pub fn pixels(&self) -> Pixels<'_> {
        Pixels::new(&self.data, self.width, self.height, self.layout)
            .expect("decoder output always matches its dimensions")
    }
}

fn check_size(format: Format, width: u32, height: u32, limits: &Limits) -> Result<(), DecodeError> {
    if width == 0 || height == 0 {
        return Err(DecodeError::ZeroSize { format, width, height });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(DecodeError::TooManyPixels { width, height, max: limits.max_pixels });
    }
    Ok(())
}

/// Decodes an image for hashing.
pub fn decode(bytes: &[u8], options: &Options) -> Result<Decoded, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() as u64 > options.limits.max_file_bytes {
        return Err(DecodeError::FileTooLarge {
            size: bytes.len() as u64,
            max: options.limits.max_file_bytes,
        });
    }
    let format = sniff(bytes).ok_or_else(|| DecodeError::UnknownFormat(what_is_it(bytes)))?;
    let mut decoded = match format {
        Format::Jpeg => decode_jpeg(bytes, options)?,
        _ => decode_with_image(bytes, format, options)?,
    };
    if options.exif_orient {
        if let Some(o) = decoded.exif_orientation {
            apply_orientation(&mut decoded, o);
        }
    }
    Ok(decoded)
}

fn jpeg_error(e: impl fmt::Display) -> DecodeError {
    DecodeError::Corrupt { format: Format::Jpeg, detail: e.to_string() }
}

fn decode_jpeg(bytes: &[u8], options: &Options) -> Result<Decoded, DecodeError> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    use zune_jpeg::JpegDecoder;

    // Headers first: the size is checked before anything is allocated for pixels.
    let base = DecoderOptions::new_fast()
        .set_strict_mode(true)
        .set_max_width(u16::MAX as usize)
        .set_max_height(u16::MAX as usize);
    let mut probe = JpegDecoder::new_with_options(ZCursor::new(bytes), base);
    probe.decode_headers().map_err(jpeg_error)?;
    let (w, h) = probe.dimensions().ok_or_else(|| jpeg_error("no frame header"))?;
    check_size(Format::Jpeg, w as u32, h as u32, &options.limits)?;
    let input = probe.input_colorspace().ok_or_else(|| jpeg_error("no colour space"))?;
    let exif_orientation = probe.exif().and_then(|e| exif_orientation(e));

    // Plain YCbCr or grey JPEGs: the luma plane is all PDQ needs.
    let luma_only = options.jpeg_luma_only && matches!(input, ColorSpace::YCbCr | ColorSpace::Luma);
    let (out_space, layout) = if luma_only {
        (ColorSpace::Luma, PixelLayout::Gray8)
    } else {
        (ColorSpace::RGB, PixelLayout::Rgb8)
    };
    let mut decoder =
        JpegDecoder::new_with_options(ZCursor::new(bytes), base.jpeg_set_out_colorspace(out_space));
    let data = decoder.decode().map_err(jpeg_error)?;
    if data.len() != w * h * layout.channels() {
        return Err(jpeg_error(format!(
            "decoder returned {} bytes for a {w}x{h} image",
            data.len()
        )));
    }
    Ok(Decoded { format: Format::Jpeg, width: w, height: h, layout, data, exif_orientation })
}

/// The orientation tag from an EXIF block (with or without its `Exif\0\0` prefix).
fn exif_orientation(exif: &[u8]) -> Option<u8> {
    let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    image::metadata::Orientation::from_exif_chunk(tiff).map(|o| o.to_exif())
}

fn image_error(format: Format, e: image::ImageError) -> DecodeError {
    match e {
        image::ImageError::Limits(l) => DecodeError::Corrupt {
            format,
            detail: format!("{l}; the image needs more memory than the pixel limit allows"),
        },
        other => DecodeError::Corrupt { format, detail: other.to_string() },
    }
}

fn decode_with_image(
    bytes: &[u8],
    format: Format,
    options: &Options,
) -> Result<Decoded, DecodeError> {
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut limits = image::Limits::default();
    // Room for the pixels at 16 bits × 4 channels, plus the decoder's own working memory.
    limits.max_alloc = Some(options.limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| image_error(format, e))?;
    let (w, h) = decoder.dimensions();
    check_size(format, w, h, &options.limits)?;
    let exif_orientation = match decoder.orientation() {
        Ok(o) if o != image::metadata::Orientation::NoTransforms => Some(o.to_exif()),
        Ok(_) => decoder.exif_metadata().ok().flatten().and_then(|e| exif_orientation(&e)),
        Err(_) => None,
    };
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(format, e))?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    let (layout, data) = pillow_rgb(image);
    Ok(Decoded { format, width, height, layout, data, exif_orientation })
}

/// 8-bit pixels as Pillow's `convert("RGB")` would produce them (up to the layout: grey stays
/// one channel and alpha stays in place, both ignored by hashing the same way).
fn pillow_rgb(image: DynamicImage) -> (PixelLayout, Vec<u8>) {
    let high = |v: &u16| (v >> 8) as u8;
    match image {
        DynamicImage::ImageLuma8(b) => (PixelLayout::Gray8, b.into_raw()),
        DynamicImage::ImageLumaA8(b) => (PixelLayout::GrayAlpha8, b.into_raw()),
        DynamicImage::ImageRgb8(b) => (PixelLayout::Rgb8, b.into_raw()),
        DynamicImage::ImageRgba8(b) => (PixelLayout::Rgba8, b.into_raw()),
        // Pillow opens 16-bit grey as mode I;16 and clips it to 0..255 when converting.
        DynamicImage::ImageLuma16(b) => {
            (PixelLayout::Gray8, b.as_raw().iter().map(|&v| v.min(255) as u8).collect())
        }
        // Other 16-bit modes are read by Pillow as 8-bit, keeping the high byte.
        DynamicImage::ImageLumaA16(b) => {
            (PixelLayout::GrayAlpha8, b.as_raw().iter().map(high).collect())
        }
        DynamicImage::ImageRgb16(b) => (PixelLayout::Rgb8, b.as_raw().iter().map(high).collect()),
        DynamicImage::ImageRgba16(b) => (PixelLayout::Rgba8, b.as_raw().iter().map(high).collect()),
        other => (PixelLayout::Rgb8, other.to_rgb8().into_raw()),
    }
}

/// Rotates/mirrors the pixels as EXIF orientation `o` (1–8) says a viewer should show them.
fn apply_orientation(d: &mut Decoded, o: u8) {
    let c = d.layout.channels();
    let (w, h) = (d.width, d.height);
    // Map each output pixel (x, y) to its source pixel.
    let transposed = matches!(o, 5..=8);
    let (ow, oh) = if transposed { (h, w) } else { (w, h) };
    let src = |x: usize, y: usize| -> (usize, usize) {
        match o {
            2 => (w - 1 - x, y),
            3 => (w - 1 - x, h - 1 - y),
            4 => (x, h - 1 - y),
            5 => (y, x),
            6 => (y, h - 1 - x),
            7 => (w - 1 - y, h - 1 - x),
            8 => (w - 1 - y, x),
            _ => (x, y),
        }
    };
    if !(2..=8).contains(&o) {
        return;
    }
    let mut out = vec![0u8; d.data.len()];
    for y in 0..oh {
        for x in 0..ow {
            let (sx, sy) = src(x, y);
            let s = (sy * w + sx) * c;
            let t = (y * ow + x) * c;
            out[t..t + c].copy_from_slice(&d.data[s..s + c]);
        }
    }
    d.data = out;
    d.width = ow;
    d.height = oh;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_bytes() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Format::Png));
        assert_eq!(sniff(b"GIF89a..."), Some(Format::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::Webp));
        assert_eq!(sniff(b"II*\0rest"), Some(Format::Tiff));
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b"BM"), None);
    }

    #[test]
    fn orientation_maps_pixels() {
        // 3x2 grey image:  0 1 2 / 3 4 5
        let base = Decoded {
            format: Format::Png,
            width: 3,
            height: 2,
            layout: PixelLayout::Gray8,
            data: vec![0, 1, 2, 3, 4, 5],
            exif_orientation: None,
        };
        let cases: [(u8, (usize, usize), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]),
            (2, (3, 2), [2, 1, 0, 5, 4, 3]),
            (3, (3, 2), [5, 4, 3, 2, 1, 0]),
            (4, (3, 2), [3, 4, 5, 0, 1, 2]),
            (5, (2, 3), [0, 3, 1, 4, 2, 5]),
            (6, (2, 3), [3, 0, 4, 1, 5, 2]), // rotate 90° clockwise
            (7, (2, 3), [5, 2, 4, 1, 3, 0]),
            (8, (2, 3), [2, 5, 1, 4, 0, 3]), // rotate 90° counter-clockwise
        ];
        for (o, (w, h), want) in cases {
            let mut d = base.clone();
            apply_orientation(&mut d, o);
            assert_eq!((d.width, d.height), (w, h), "orientation {o}");
            assert_eq!(d.data, want, "orientation {o}");
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let o = Options::default();
        assert!(matches!(decode(b"", &o), Err(DecodeError::Empty)));
        assert!(matches!(decode(b"just some text", &o), Err(DecodeError::UnknownFormat(None))));
        let e = decode(b"%PDF-1.4 ...", &o).unwrap_err();
        assert!(e.to_string().contains("PDF"), "{e}");
        let e = decode(b"\xFF\xD8\xFF\xE0", &o).unwrap_err();
        assert!(matches!(e, DecodeError::Corrupt { format: Format::Jpeg, .. }), "{e}");
    }
}
