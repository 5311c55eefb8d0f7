//! Renditions: size, colour, blur strength, errors, frames, and inputs that must never panic.

use std::io::Cursor;
use std::path::PathBuf;

use proptest::prelude::*;
use spoor_case::rendition::{
    render_frames, render_image, BlurLevel, Rendition, RenditionError, View, MAX_FRAMES,
};
use spoor_media::{DecodeError, Options};

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn encode(
    width: u32,
    height: u32,
    colour: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) -> Vec<u8> {
    encode_with_text(width, height, colour, depth, data, None)
}

fn encode_with_text(
    width: u32,
    height: u32,
    colour: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    text: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, width, height);
        e.set_color(colour);
        e.set_depth(depth);
        if let Some(t) = text {
            e.add_text_chunk("Comment".into(), t.into()).unwrap();
        }
        let mut w = e.write_header().unwrap();
        w.write_image_data(data).unwrap();
    }
    out
}

/// A colourful RGB image: gradients in each channel, pixel noise that differs between channels,
/// and 8x8 blocks of grey noise (detail coarse enough to survive shrinking to 320 pixels).
fn colourful(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let blocks_per_row = width.div_ceil(8) as usize;
    let blocks: Vec<i32> = (0..blocks_per_row * height.div_ceil(8) as usize)
        .map(|_| (rng.next() % 161) as i32 - 80)
        .collect();
    let mut data = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let n = (rng.next() % 129) as i32 - 64;
            let block = blocks[(y / 8) as usize * blocks_per_row + (x / 8) as usize];
            let r = (x * 255 / width) as i32 + n + block;
            let g = (y * 255 / height) as i32 - n + block;
            let b = ((x + y) * 255 / (width + height)) as i32 + n / 2 + block;
            data.extend([r, g, b].map(|v| v.clamp(0, 255) as u8));
        }
    }
    data
}

/// A decoded rendition: (width, height, channels, pixels).
fn read_back(r: &Rendition) -> (u32, u32, usize, Vec<u8>) {
    let decoder = png::Decoder::new(Cursor::new(&r.png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected colour type {other:?}"),
    };
    assert_eq!((info.width, info.height), (r.width, r.height));
    (info.width, info.height, channels, buf)
}

/// Mean squared difference between horizontally and vertically neighbouring grey pixels.
fn energy(width: u32, height: u32, grey: &[u8]) -> f64 {
    let (w, h) = (width as usize, height as usize);
    let (mut sum, mut n) = (0f64, 0u64);
    for y in 0..h {
        for x in 0..w {
            let v = f64::from(grey[y * w + x]);
            if x + 1 < w {
                sum += (v - f64::from(grey[y * w + x + 1])).powi(2);
                n += 1;
            }
            if y + 1 < h {
                sum += (v - f64::from(grey[(y + 1) * w + x])).powi(2);
                n += 1;
            }
        }
    }
    sum / n as f64
}

fn view(level: u8, colour: bool) -> View {
    View { blur: BlurLevel::new(level).unwrap(), colour, max_side: 320 }
}

#[test]
fn a_colourful_image_is_shown_small_grey_and_blurred() {
    let png =
        encode(1200, 800, png::ColorType::Rgb, png::BitDepth::Eight, &colourful(1200, 800, 1));
    let options = Options::default();

    let shown = render_image(&png, &View::default(), &options).unwrap();
    assert_eq!(shown.blur, BlurLevel::STRONGEST);
    assert!(!shown.colour);
    let (w, h, channels, pixels) = read_back(&shown);
    assert_eq!(channels, 1, "a greyscale rendition is a grey PNG");
    assert!(w.max(h) <= 320);
    assert_eq!((w, h), (320, 213));

    let sharp = render_image(&png, &view(0, false), &options).unwrap();
    let (sw, sh, _, sharp_pixels) = read_back(&sharp);
    assert_eq!((sw, sh), (w, h));
    let (blurred, unblurred) = (energy(w, h, &pixels), energy(w, h, &sharp_pixels));
    assert!(unblurred > 100.0, "the test image has fine detail ({unblurred})");
    assert!(blurred < 0.05 * unblurred, "strongest blur {blurred} vs none {unblurred}");

    // Each step down in blur keeps at least as much detail as the step above.
    let mut previous = 0.0;
    for level in (0..=4).rev() {
        let r = render_image(&png, &view(level, false), &options).unwrap();
        let (w, h, _, px) = read_back(&r);
        let e = energy(w, h, &px);
        assert!(e >= previous, "level {level}: energy {e} below {previous} of level {}", level + 1);
        previous = e;
    }
}

#[test]
fn colour_with_no_blur_keeps_colour() {
    let png =
        encode(1200, 800, png::ColorType::Rgb, png::BitDepth::Eight, &colourful(1200, 800, 2));
    let r = render_image(&png, &view(0, true), &Options::default()).unwrap();
    assert!(r.colour);
    let (w, h, channels, px) = read_back(&r);
    assert_eq!((w, h, channels), (320, 213, 3));
    assert!(px.chunks_exact(3).any(|p| p[0] != p[1]));
    // Blurred colour stays colour.
    let r = render_image(&png, &view(4, true), &Options::default()).unwrap();
    let (_, _, channels, px) = read_back(&r);
    assert_eq!(channels, 3);
    assert!(px.chunks_exact(3).any(|p| p[0] != p[1]));
}

#[test]
fn bad_input_and_limits_are_clear_errors() {
    let e = render_image(b"these bytes are no image", &View::default(), &Options::default())
        .unwrap_err();
    assert!(matches!(e, RenditionError::Decode(DecodeError::UnknownFormat(_))), "{e}");
    assert!(e.to_string().contains("not a supported image"), "{e}");

    let e = render_image(b"", &View::default(), &Options::default()).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");

    let mut cut = encode(64, 64, png::ColorType::Rgb, png::BitDepth::Eight, &colourful(64, 64, 3));
    cut.truncate(cut.len() / 2);
    let e = render_image(&cut, &View::default(), &Options::default()).unwrap_err();
    assert!(matches!(e, RenditionError::Decode(DecodeError::Corrupt { .. })), "{e}");

    let png = encode(200, 100, png::ColorType::Rgb, png::BitDepth::Eight, &colourful(200, 100, 4));
    let mut options = Options::default();
    options.limits.max_pixels = 10_000;
    let e = render_image(&png, &View::default(), &options).unwrap_err();
    assert!(matches!(e, RenditionError::Decode(DecodeError::TooManyPixels { .. })), "{e}");
    assert!(e.to_string().contains("200x100") && e.to_string().contains("over the limit"), "{e}");

    for side in [0, 15, 4097] {
        let v = View { max_side: side, ..View::default() };
        let e = render_image(&png, &v, &Options::default()).unwrap_err();
        assert!(matches!(e, RenditionError::BadSize(s) if s == side), "{e}");
        assert!(e.to_string().contains("16 to 4096"), "{e}");
        assert!(matches!(
            render_frames(&[(1, 1, &[0, 0, 0])], &v),
            Err(RenditionError::BadSize(_))
        ));
    }
}

#[test]
fn small_images_are_not_enlarged() {
    let png = encode(100, 50, png::ColorType::Rgb, png::BitDepth::Eight, &colourful(100, 50, 5));
    for v in [View::default(), view(0, true)] {
        let r = render_image(&png, &v, &Options::default()).unwrap();
        assert_eq!((r.width, r.height), (100, 50));
    }
    let big = View { max_side: 1000, ..View::default() };
    let png =
        encode(1200, 800, png::ColorType::Rgb, png::BitDepth::Eight, &colourful(1200, 800, 6));
    let r = render_image(&png, &big, &Options::default()).unwrap();
    assert_eq!((r.width, r.height), (1000, 667));
}

#[test]
fn extreme_shapes_render() {
    for (w, h, want) in
        [(20_000u32, 1u32, (320, 1)), (1, 20_000, (1, 320)), (1, 1, (1, 1)), (321, 2, (320, 2))]
    {
        let png = encode(w, h, png::ColorType::Rgb, png::BitDepth::Eight, &colourful(w, h, 9));
        for v in [View::default(), view(0, true)] {
            let r = render_image(&png, &v, &Options::default()).unwrap();
            assert_eq!((r.width, r.height), want, "{w}x{h}");
            read_back(&r);
        }
    }
}

#[test]
fn every_pixel_layout_renders() {
    let (w, h) = (40u32, 30u32);
    let n = (w * h) as usize;
    // (200, 100, 50) has luma 124.2; grey 90.
    let cases: Vec<(Vec<u8>, [u8; 3])> = vec![
        (encode(w, h, png::ColorType::Grayscale, png::BitDepth::Eight, &vec![90; n]), [90; 3]),
        (
            encode(w, h, png::ColorType::GrayscaleAlpha, png::BitDepth::Eight, &[90, 7].repeat(n)),
            [90; 3],
        ),
        (
            encode(w, h, png::ColorType::Grayscale, png::BitDepth::Sixteen, &[0, 90].repeat(n)),
            [90; 3],
        ),
        (
            encode(w, h, png::ColorType::Rgb, png::BitDepth::Eight, &[200, 100, 50].repeat(n)),
            [200, 100, 50],
        ),
        (
            encode(w, h, png::ColorType::Rgba, png::BitDepth::Eight, &[200, 100, 50, 0].repeat(n)),
            [200, 100, 50],
        ),
        (
            encode(
                w,
                h,
                png::ColorType::Rgb,
                png::BitDepth::Sixteen,
                &[200, 1, 100, 2, 50, 3].repeat(n),
            ),
            [200, 100, 50],
        ),
    ];
    for (i, (png, rgb)) in cases.iter().enumerate() {
        let grey =
            ((299 * u32::from(rgb[0]) + 587 * u32::from(rgb[1]) + 114 * u32::from(rgb[2]) + 500)
                / 1000) as u8;
        let r = render_image(png, &View::default(), &Options::default()).unwrap();
        let (rw, rh, channels, px) = read_back(&r);
        assert_eq!((rw, rh, channels), (w, h, 1), "case {i}");
        assert!(px.iter().all(|&v| v == grey), "case {i}: {:?} want {grey}", &px[..4]);
        let r = render_image(png, &view(2, true), &Options::default()).unwrap();
        let (_, _, channels, px) = read_back(&r);
        assert_eq!(channels, 3, "case {i}");
        assert!(px.chunks_exact(3).all(|p| p == rgb), "case {i}: {:?} want {rgb:?}", &px[..3]);
    }
}

#[test]
fn metadata_and_original_bytes_never_pass_through() {
    let data = colourful(64, 48, 7);
    let png = encode_with_text(
        64,
        48,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        &data,
        Some("camera-serial-0123456789"),
    );
    for v in [View::default(), view(0, true)] {
        let r = render_image(&png, &v, &Options::default()).unwrap();
        assert_ne!(r.png, png);
        assert!(!r.png.windows(10).any(|w| w == b"camera-ser"), "metadata copied");
    }
}

fn testdata(rel: &str) -> Option<PathBuf> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pdq").join(rel);
    p.exists().then_some(p)
}

#[test]
fn exif_orientation_is_applied() {
    // Photos stored 4032x3024 whose EXIF orientation turns them upright.
    let Some(upright) = testdata("reg-test-input/exif-rotn/exif-rotn-1.jpg") else {
        eprintln!("skipped: ../shared/testdata is not there");
        return;
    };
    let rotated = testdata("reg-test-input/exif-rotn/exif-rotn-6.jpg").unwrap();
    // exif_orient off in the options given: the rendition applies it all the same.
    let options = Options { exif_orient: false, ..Options::default() };
    let r = render_image(&std::fs::read(upright).unwrap(), &View::default(), &options).unwrap();
    assert_eq!((r.width, r.height), (320, 240));
    let r = render_image(&std::fs::read(rotated).unwrap(), &View::default(), &options).unwrap();
    assert_eq!((r.width, r.height), (240, 320));
}

fn frame(width: u32, height: u32, value: u8) -> Vec<u8> {
    vec![value; (width * height * 3) as usize]
}

#[test]
fn frames_are_laid_out_in_a_bounded_grid() {
    let v = View::default();
    let one = frame(640, 360, 10);
    let r = render_frames(&[(640, 360, &one)], &v).unwrap();
    assert_eq!((r.width, r.height), (320, 180), "one frame is shown as an image would be");

    // Four in a row: 4 cells of 158 and 3 gaps of 2 within 640.
    let frames: Vec<Vec<u8>> = (0..4).map(|i| frame(640, 360, i * 10)).collect();
    let list: Vec<(u32, u32, &[u8])> = frames.iter().map(|f| (640, 360, f.as_slice())).collect();
    let r = render_frames(&list, &v).unwrap();
    assert_eq!((r.width, r.height), (638, 89));

    for (count, cols, rows) in
        [(2, 2, 1), (5, 4, 2), (6, 4, 2), (9, 4, 3), (16, 4, 4), (17, 4, 4), (200, 4, 4)]
    {
        let frames: Vec<Vec<u8>> = (0..count).map(|i| frame(64, 48, (i % 256) as u8)).collect();
        let list: Vec<(u32, u32, &[u8])> = frames.iter().map(|f| (64, 48, f.as_slice())).collect();
        let r = render_frames(&list, &v).unwrap();
        assert_eq!(
            (r.width, r.height),
            (cols * 64 + (cols - 1) * 2, rows * 48 + (rows - 1) * 2),
            "{count} frames"
        );
        assert!(r.width.max(r.height) <= 2 * v.max_side);
        let (_, _, channels, _) = read_back(&r);
        assert_eq!(channels, 1);
    }

    // Tall frames, many rows: the grid still fits.
    let tall = frame(300, 2000, 50);
    let list: Vec<(u32, u32, &[u8])> = (0..16).map(|_| (300, 2000, tall.as_slice())).collect();
    let r = render_frames(&list, &v).unwrap();
    assert!(r.width.max(r.height) <= 640, "{}x{}", r.width, r.height);
    let r = render_frames(&list[..1], &v).unwrap();
    assert_eq!((r.width, r.height), (48, 320));

    // Colour frames stay colour.
    let mut colour = Vec::new();
    for _ in 0..64 * 48 {
        colour.extend([250, 20, 20]);
    }
    let r = render_frames(&[(64, 48, &colour)], &view(0, true)).unwrap();
    let (_, _, channels, px) = read_back(&r);
    assert_eq!(channels, 3);
    assert_eq!(&px[..3], &[250, 20, 20]);
}

#[test]
fn frames_are_chosen_evenly() {
    let count = 40usize;
    let frames: Vec<Vec<u8>> = (0..count).map(|i| frame(32, 32, (i * 6) as u8)).collect();
    let list: Vec<(u32, u32, &[u8])> = frames.iter().map(|f| (32, 32, f.as_slice())).collect();
    let r = render_frames(&list, &view(0, false)).unwrap();
    let (w, _, _, px) = read_back(&r);
    let shown: Vec<usize> = (0..MAX_FRAMES)
        .map(|i| {
            let (x, y) = ((i % 4) * 34 + 16, (i / 4) * 34 + 16);
            usize::from(px[y * w as usize + x]) / 6
        })
        .collect();
    let want: Vec<usize> = (0..MAX_FRAMES).map(|i| i * (count - 1) / (MAX_FRAMES - 1)).collect();
    assert_eq!(shown, want);
    assert_eq!((shown[0], shown[15]), (0, 39));
}

#[test]
fn bad_frames_are_clear_errors() {
    let v = View::default();
    assert!(matches!(render_frames(&[], &v), Err(RenditionError::NoFrames)));
    let short = vec![0u8; 10];
    let e = render_frames(&[(4, 4, &short)], &v).unwrap_err();
    assert!(matches!(e, RenditionError::BadFrame { index: 0, expected: 48, found: 10, .. }), "{e}");
    assert!(e.to_string().contains("4x4"), "{e}");
    let ok = frame(2, 2, 0);
    let e = render_frames(&[(2, 2, &ok), (0, 2, &[])], &v).unwrap_err();
    assert!(matches!(e, RenditionError::BadFrame { index: 1, .. }), "{e}");
    let e = render_frames(&[(u32::MAX, u32::MAX, &ok)], &v).unwrap_err();
    assert!(matches!(e, RenditionError::BadFrame { .. }), "{e}");
}

fn small_options() -> Options {
    let mut o = Options::default();
    o.limits.max_pixels = 1 << 20;
    o
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_never_panic(
        prefix in prop_oneof![
            Just(&b""[..]),
            Just(&b"\x89PNG\r\n\x1a\n"[..]),
            Just(&b"\xFF\xD8\xFF\xE0"[..]),
            Just(&b"GIF89a"[..]),
            Just(&b"RIFF\0\0\0\0WEBPVP8 "[..]),
            Just(&b"BM"[..]),
            Just(&b"II*\0"[..]),
        ],
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
        level in 0u8..=4,
        colour in any::<bool>(),
    ) {
        let mut bytes = prefix.to_vec();
        bytes.extend(tail);
        let v = View { blur: BlurLevel::new(level).unwrap(), colour, max_side: 64 };
        let _ = render_image(&bytes, &v, &small_options());
    }

    #[test]
    fn damaged_images_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = encode(24, 16, png::ColorType::Rgba, png::BitDepth::Eight, &colourful(24, 16, 8).repeat(2)[..24 * 16 * 4]);
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(r) = render_image(&bytes, &View::default(), &small_options()) {
            prop_assert!(r.width.max(r.height) <= 320);
        }
    }
}
