//! Bit-exactness against Meta's reference PDQ (`../shared/testdata/pdq/lossless-expected.tsv`):
//! hash, quality and all eight dihedral hashes of every lossless test image.

use spoor_core::Hash256;
use spoor_hash::pdq::{pdq, pdq_dihedral, PixelLayout, Pixels};
use std::path::PathBuf;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pdq")
}

fn decode_png(path: &std::path::Path) -> (Vec<u8>, usize, usize, PixelLayout) {
    let mut decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("open test image"),
    ));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    buf.truncate(info.buffer_size());
    let layout = match info.color_type {
        png::ColorType::Grayscale => PixelLayout::Gray8,
        png::ColorType::GrayscaleAlpha => PixelLayout::GrayAlpha8,
        png::ColorType::Rgb => PixelLayout::Rgb8,
        png::ColorType::Rgba => PixelLayout::Rgba8,
        other => panic!("unexpected colour type {other:?}"),
    };
    (buf, info.width as usize, info.height as usize, layout)
}

#[test]
fn lossless_vectors_are_bit_exact() {
    let tsv =
        std::fs::read_to_string(testdata().join("lossless-expected.tsv")).expect("expected tsv");
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let (file, width, height, quality, hash) = (f[0], f[1], f[2], f[3], f[4]);
        let dihedral: Vec<Hash256> = f[5].split(',').map(|h| h.parse().unwrap()).collect();
        let (px, w, h, layout) = decode_png(&testdata().join(file));
        assert_eq!((w.to_string().as_str(), h.to_string().as_str()), (width, height), "{file}");
        let pixels = Pixels::new(&px, w, h, layout).unwrap();
        let got = pdq(pixels);
        let want: Hash256 = hash.parse().unwrap();
        if got.hash != want || got.quality.to_string() != quality {
            failures.push(format!(
                "{file}: pdq {} q{} want {} q{} (distance {})",
                got.hash,
                got.quality,
                want,
                quality,
                got.hash.distance(&want)
            ));
        }
        let d = pdq_dihedral(pixels);
        for (v, (g, w)) in d.hashes.iter().zip(&dihedral).enumerate() {
            if g != w {
                failures.push(format!(
                    "{file}: dihedral {v} {g} want {w} (distance {})",
                    g.distance(w)
                ));
            }
        }
        checked += 1;
    }
    assert!(checked >= 80, "only {checked} vectors found");
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// The image turned or mirrored as dihedral variant `k` (the reference's order: original,
/// rot90, rot180, rot270, flip x, flip y, flip +1, flip −1), built pixel by pixel.
fn turned(px: &[u8], w: usize, h: usize, c: usize, k: usize) -> (Vec<u8>, usize, usize) {
    let (tw, th) = if matches!(k, 1 | 3 | 6 | 7) { (h, w) } else { (w, h) };
    let mut out = vec![0u8; px.len()];
    for y in 0..th {
        for x in 0..tw {
            // Where the pixel at (x, y) of the variant sits in the original.
            let (sx, sy) = match k {
                0 => (x, y),
                1 => (w - 1 - y, x),
                2 => (w - 1 - x, h - 1 - y),
                3 => (y, h - 1 - x),
                4 => (x, h - 1 - y),
                5 => (w - 1 - x, y),
                6 => (y, x),
                _ => (w - 1 - y, h - 1 - x),
            };
            out[(y * tw + x) * c..(y * tw + x + 1) * c]
                .copy_from_slice(&px[(sy * w + sx) * c..(sy * w + sx + 1) * c]);
        }
    }
    (out, tw, th)
}

#[test]
fn exact_dihedral_hashes_are_the_turned_pixels_own_and_find_lossless_turns() {
    use spoor_hash::pdq::pdq_dihedral_exact;
    let tsv =
        std::fs::read_to_string(testdata().join("lossless-expected.tsv")).expect("expected tsv");
    let mut checked = 0;
    let mut photos = 0;
    for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let (file, want) = (f[0], f[4].parse::<Hash256>().unwrap());
        let (px, w, h, layout) = decode_png(&testdata().join(file));
        if w < 5 || h < 5 {
            continue;
        }
        let pixels = Pixels::new(&px, w, h, layout).unwrap();
        let exact = pdq_dihedral_exact(pixels);
        // The identity is the reference's hash, bit for bit, and so is its quality.
        assert_eq!(exact.hashes[0], want, "{file}");
        assert_eq!(exact.quality.to_string(), f[3], "{file}");
        let c = layout.channels();
        for k in 1..8 {
            let (t, tw, th) = turned(&px, w, h, c, k);
            let t = Pixels::new(&t, tw, th, layout).unwrap();
            // Each variant is the plain hash of that turned grid...
            assert_eq!(exact.hashes[k], pdq(t).hash, "{file} variant {k}");
            // ...so a turned copy finds the original at distance 0 among its own eight.
            let back = pdq_dihedral_exact(t);
            assert!(back.hashes.contains(&want), "{file}: variant {k} does not find the original");
        }
        // On photos the variants are the same turns as the DCT-derived ones (close, not equal:
        // the downscale's sampling grid is not symmetric).
        if file.contains("bridge") && w >= 128 && h >= 128 {
            let from_dct = pdq_dihedral(pixels);
            let ds: Vec<u32> =
                (0..8).map(|k| exact.hashes[k].distance(&from_dct.hashes[k])).collect();
            let alt: Vec<u32> = (0..8)
                .map(|k| exact.hashes[k].distance(&from_dct.hashes[[0, 3, 2, 1, 4, 5, 7, 6][k]]))
                .collect();
            // Same turns: within 40 bits, where the opposite turn (rot90 for rot270, the
            // other diagonal) is over 100 bits away.
            for k in 0..8 {
                assert!(ds[k] <= 40, "{file} variant {k}: {ds:?}");
                assert!(matches!(k, 0 | 2 | 4 | 5) || alt[k] > 100, "{file} variant {k}: {alt:?}");
            }
            photos += 1;
        }
        checked += 1;
    }
    assert!(checked >= 80 && photos >= 5, "only {checked} vectors ({photos} photos) found");
}
