//! Every supported format decodes to the pixels that were encoded: a generated image written
//! as PNG, BMP, TIFF, lossless WebP and GIF must hash exactly like its own pixels (GIF within
//! a few bits: its encoder reduces colours to a palette).

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use spoor_hash::pdq::{pdq, PixelLayout, Pixels};
use spoor_media::{decode, Format, Options};
use std::io::Cursor;

fn generated(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = ((x * 7 + y * 3) % 256) as u8;
        let c = (((x / 16) + (y / 16)) % 2 * 200) as u8;
        Rgb([v, c, (x ^ y) as u8])
    })
}

fn encoded(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img.clone()).write_to(&mut buf, format).unwrap();
    buf.into_inner()
}

#[test]
fn lossless_formats_round_trip_bit_exact() {
    let img = generated(317, 203);
    let want = pdq(Pixels::new(img.as_raw(), 317, 203, PixelLayout::Rgb8).unwrap());
    for (format, name) in [
        (ImageFormat::Png, Format::Png),
        (ImageFormat::Bmp, Format::Bmp),
        (ImageFormat::Tiff, Format::Tiff),
        (ImageFormat::WebP, Format::Webp),
    ] {
        let bytes = encoded(&img, format);
        let d = decode(&bytes, &Options::default()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(d.format, name);
        assert_eq!((d.width, d.height), (317, 203));
        assert_eq!(pdq(d.pixels()), want, "{format:?}");
    }
    let gif = encoded(&img, ImageFormat::Gif);
    let d = decode(&gif, &Options::default()).unwrap();
    assert_eq!(d.format, Format::Gif);
    let got = pdq(d.pixels());
    assert!(got.hash.distance(&want.hash) <= 8, "gif: {}", got.hash.distance(&want.hash));
}

#[test]
fn sixteen_bit_pngs_convert_as_pillow_does() {
    // Pillow reads 16-bit RGB as 8-bit keeping the high byte, and clips 16-bit grey (I;16)
    // to 0..255 when converting to RGB.
    let rgb16 = image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_fn(64, 64, |x, y| {
        Rgb([(x * 1000) as u16, (y * 1000) as u16, 0x80FF])
    });
    let mut buf = Cursor::new(Vec::new());
    DynamicImage::ImageRgb16(rgb16.clone()).write_to(&mut buf, ImageFormat::Png).unwrap();
    let d = decode(buf.get_ref(), &Options::default()).unwrap();
    assert_eq!(d.layout, PixelLayout::Rgb8);
    let expect: Vec<u8> = rgb16.as_raw().iter().map(|v| (v >> 8) as u8).collect();
    assert_eq!(d.data, expect);

    let grey16 = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(64, 64, |x, y| {
        image::Luma([(x * 64 + y) as u16])
    });
    let mut buf = Cursor::new(Vec::new());
    DynamicImage::ImageLuma16(grey16.clone()).write_to(&mut buf, ImageFormat::Png).unwrap();
    let d = decode(buf.get_ref(), &Options::default()).unwrap();
    assert_eq!(d.layout, PixelLayout::Gray8);
    let expect: Vec<u8> = grey16.as_raw().iter().map(|&v| v.min(255) as u8).collect();
    assert_eq!(d.data, expect);
}

#[test]
fn limits_are_enforced_before_decoding() {
    let img = generated(400, 300);
    let bytes = encoded(&img, ImageFormat::Png);
    let mut o = Options::default();
    o.limits.max_pixels = 400 * 300 - 1;
    let e = decode(&bytes, &o).unwrap_err().to_string();
    assert!(e.contains("400x300") && e.contains("--max-pixels"), "{e}");
    o.limits.max_pixels = 400 * 300;
    assert!(decode(&bytes, &o).is_ok());
    o.limits.max_file_bytes = bytes.len() as u64 - 1;
    let e = decode(&bytes, &o).unwrap_err().to_string();
    assert!(e.contains("--max-file-size"), "{e}");
}
