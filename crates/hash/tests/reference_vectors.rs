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
