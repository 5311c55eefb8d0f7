//! Decode + PDQ on every source image of `../shared/testdata/pdq/files-expected.tsv` (the
//! reference hash of Pillow-decoded RGB pixels). Lossless formats must be bit-exact; lossy
//! ones (other decoders round differently) within 10 bits, with mean and max reported.

use spoor_core::Hash256;
use spoor_media::{decode, Format, Options};
use std::path::PathBuf;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pdq")
}

struct Row {
    file: String,
    width: usize,
    height: usize,
    quality: u8,
    hash: Hash256,
}

fn rows() -> Vec<Row> {
    let tsv = std::fs::read_to_string(testdata().join("files-expected.tsv")).unwrap();
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[0].to_string(),
                width: f[1].parse().unwrap(),
                height: f[2].parse().unwrap(),
                quality: f[3].parse().unwrap(),
                hash: f[4].parse().unwrap(),
            }
        })
        .collect()
}

fn check(options: Options) -> (Vec<(String, u32)>, Vec<String>) {
    let mut lossy = Vec::new();
    let mut failures = Vec::new();
    for r in rows() {
        let bytes = std::fs::read(testdata().join(&r.file)).unwrap();
        let d = decode(&bytes, &options).unwrap_or_else(|e| panic!("{}: {e}", r.file));
        assert_eq!((d.width, d.height), (r.width, r.height), "{}", r.file);
        let p = spoor_hash::pdq::pdq(d.pixels());
        let dist = p.hash.distance(&r.hash);
        let lossless = matches!(d.format, Format::Png);
        if lossless {
            if dist != 0 || p.quality != r.quality {
                failures.push(format!(
                    "{}: lossless but distance {dist}, quality {} vs {}",
                    r.file, p.quality, r.quality
                ));
            }
        } else {
            if dist > 10 {
                failures.push(format!("{}: distance {dist} > 10", r.file));
            }
            lossy.push((r.file.clone(), dist));
        }
    }
    (lossy, failures)
}

#[test]
fn every_reference_file_hashes_close_to_pillow() {
    for jpeg_luma_only in [false, true] {
        let (lossy, failures) = check(Options { jpeg_luma_only, ..Options::default() });
        let max = lossy.iter().map(|x| x.1).max().unwrap_or(0);
        let mean = lossy.iter().map(|x| x.1 as f64).sum::<f64>() / lossy.len() as f64;
        eprintln!(
            "jpeg_luma_only={jpeg_luma_only}: {} lossy files, mean distance {mean:.2}, max {max}: {:?}",
            lossy.len(),
            lossy.iter().filter(|x| x.1 > 0).collect::<Vec<_>>()
        );
        if !jpeg_luma_only {
            assert!(failures.is_empty(), "{}", failures.join("\n"));
            assert!(mean < 0.5, "mean distance {mean}");
        }
    }
}
