//! `spoor-eval` on the benign test photos and on hand-made originals whose distances are
//! known, so every count the summary gives is checked against one kept here.

use spoor_core::Hash256;
use spoor_eval::{evaluate, summarise, Change, Copy, Original, Settings, Technology};
use std::path::PathBuf;

fn photo(rel: &str) -> Vec<u8> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pdq").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn changes(names: &[&str]) -> Vec<Change> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

#[test]
fn a_photo_changed_every_standard_way() {
    let settings = Settings { keep_copies: true, ..Settings::default() };
    let bytes = photo("bridge-mods/aaa-orig.jpg");
    let o = evaluate("bridge", &bytes, &settings).unwrap();
    assert!(o.used && o.changed && o.quality >= 50);
    assert_eq!(o.copies.len(), spoor_eval::STANDARD.len());
    let copy = |name: &str| o.copies.iter().find(|c| c.change == name).unwrap();
    // Lossless turns: the plain hash is far, the DCT variants near, the exact variants equal.
    for turn in ["rotate_90", "rotate_180", "mirror"] {
        let c = copy(turn);
        assert!(c.distance > 31, "{turn}: {}", c.distance);
        assert!(c.distance_dihedral <= 31, "{turn}: {}", c.distance_dihedral);
        assert_eq!(c.distance_dihedral_exact, 0, "{turn}");
    }
    assert_eq!((copy("rotate_90").width, copy("rotate_90").height), (o.height, o.width));
    // The copy was turned clockwise; the reference's rot90 turns anticlockwise, back.
    assert_eq!(copy("rotate_90").transform_exact, "rot90");
    assert_eq!(copy("mirror").transform_exact, "flipy");
    // Frames: the whole copy is far, what is inside its frame near; the frame is found.
    for framed in
        ["border_5_white", "border_10_black", "border_15_red", "letterbox_12", "pillarbox_12"]
    {
        let c = copy(framed);
        assert!(c.distance > 31, "{framed}: {}", c.distance);
        assert!(c.distance_unframed <= 8, "{framed}: {}", c.distance_unframed);
        let [l, t, r, b] = c.frame.unwrap_or_else(|| panic!("{framed}: no frame found"));
        assert_eq!(c.width as usize - l - r, o.width as usize, "{framed}");
        assert_eq!(c.height as usize - t - b, o.height as usize, "{framed}");
    }
    assert!(o.unframed.is_none(), "the photo itself has no frame");
    assert!(copy("jpeg_q70").frame.is_none() && copy("rotate_90").frame.is_none());
    // Mild changes keep the hash close; a JPEG copy is a JPEG file.
    for mild in ["jpeg_q70", "greyscale", "contrast_+30", "resize_0.5"] {
        assert!(copy(mild).distance <= 31, "{mild}: {}", copy(mild).distance);
    }
    let jpeg = copy("jpeg_q30").encoded.as_ref().unwrap();
    assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF]);
    assert_eq!(copy("jpeg_q30").extension(), "jpg");
    assert_eq!(&copy("text").encoded.as_ref().unwrap()[1..4], b"PNG");
    assert!(o.copies.iter().all(|c| !c.md5_equal && !c.sha256_equal));
    // Recomputing gives the same copies; another seed another caption.
    let again = evaluate("bridge", &bytes, &settings).unwrap();
    for (a, b) in o.copies.iter().zip(&again.copies) {
        assert_eq!((a.pdq, &a.encoded), (b.pdq, &b.encoded), "{}", a.change);
    }
    let other = evaluate("bridge", &bytes, &Settings { seed: 1, ..settings.clone() }).unwrap();
    let text = |o: &Original| o.copies.iter().find(|c| c.change == "text").unwrap().encoded.clone();
    assert_ne!(text(&o), text(&other));
}

#[test]
fn weak_and_undecodable_originals_are_told_apart() {
    let settings = Settings { changes: changes(&["mirror"]), ..Settings::default() };
    // A flat grey picture has no structure: PDQ quality 0, skipped, no copies.
    let flat =
        spoor_eval::png(&image::RgbImage::from_pixel(300, 200, image::Rgb([90, 90, 90]))).unwrap();
    let o = evaluate("flat", &flat, &settings).unwrap();
    assert!(!o.used && o.copies.is_empty() && o.quality < 50);
    let e = evaluate("junk", b"not a picture at all", &settings).unwrap_err();
    assert!(e.to_string().contains("cannot decode the original"), "{e}");
    let truncated = &photo("bridge-mods/aaa-orig.jpg")[..2000];
    assert!(evaluate("cut", truncated, &settings).is_err());
}

/// An original with given hashes and copies at given distances.
fn made(name: &str, pdq: Hash256, copies: &[(&str, u32, u32, u32, u32)]) -> Original {
    Original {
        name: name.into(),
        width: 100,
        height: 100,
        quality: 100,
        pdq,
        dihedral: [pdq; 8],
        dihedral_exact: [pdq; 8],
        unframed: None,
        md5: spoor_core::Md5([name.len() as u8; 16]),
        sha256: spoor_core::Sha256([name.len() as u8; 32]),
        used: true,
        changed: true,
        copies: copies
            .iter()
            .map(|&(change, d, dd, de, du)| Copy {
                change: change.into(),
                width: 100,
                height: 100,
                encoding: spoor_eval::changes::Encoding::Png,
                bytes: 1,
                quality: 100,
                pdq,
                distance: d,
                distance_dihedral: dd,
                transform: "original",
                distance_dihedral_exact: de,
                transform_exact: "original",
                distance_unframed: du,
                frame: None,
                md5_equal: false,
                sha256_equal: false,
                encoded: None,
            })
            .collect(),
    }
}

fn with_bits(n: usize) -> Hash256 {
    let mut h = Hash256::ZERO;
    for k in 0..n {
        h.set_bit(k);
    }
    h
}

#[test]
fn summary_counts_what_it_is_given() {
    let settings = Settings {
        changes: changes(&["mirror", "crop_10"]),
        radii: vec![31, 16],
        ..Settings::default()
    };
    // Distances between originals: a–b 5, a–c 40, b–c 35; d is weak and left out.
    let a = made("a", with_bits(0), &[("mirror", 100, 10, 0, 100), ("crop_10", 10, 10, 10, 4)]);
    let b = made("bb", with_bits(5), &[("mirror", 120, 31, 0, 120), ("crop_10", 32, 32, 20, 32)]);
    let mut c =
        made("ccc", with_bits(40), &[("mirror", 90, 32, 0, 90), ("crop_10", 31, 31, 31, 31)]);
    // c has a frame; inside it, a hash 3 bits from a's and 2 from b's.
    c.unframed = Some(with_bits(3));
    let mut d = made("dddd", with_bits(6), &[]);
    d.used = false;
    let s = summarise(&[a, b, c, d], &settings);
    assert_eq!((s.originals, s.compared, s.skipped), (3, 3, 1));
    let recall = |change: &str, t: Technology, r: Option<u32>| {
        let x = s.recall.iter().find(|x| x.change == change && x.technology == t && x.radius == r);
        let p = x.unwrap_or_else(|| panic!("{change} {t:?} {r:?}")).recall;
        (p.count, p.of)
    };
    assert_eq!(recall("mirror", Technology::Pdq, Some(31)), (0, 3));
    assert_eq!(recall("mirror", Technology::PdqDihedral, Some(31)), (2, 3));
    assert_eq!(recall("mirror", Technology::PdqDihedral, Some(16)), (1, 3));
    assert_eq!(recall("mirror", Technology::PdqDihedralExact, Some(16)), (3, 3));
    assert_eq!(recall("crop_10", Technology::Pdq, Some(31)), (2, 3));
    assert_eq!(recall("crop_10", Technology::Pdq, Some(16)), (1, 3));
    assert_eq!(recall("crop_10", Technology::Md5, None), (0, 3));
    assert_eq!(recall("crop_10", Technology::PdqUnframed, Some(31)), (2, 3));
    assert_eq!(recall("crop_10", Technology::PdqUnframed, Some(16)), (1, 3));
    assert_eq!(recall("mirror", Technology::PdqUnframed, Some(31)), (0, 3));
    // 2 changes × (4 perceptual × 2 radii + 2 exact).
    assert_eq!(s.recall.len(), 2 * (4 * 2 + 2));
    let fm = |t: Technology, r: Option<u32>| {
        s.false_matches.iter().find(|f| f.technology == t && f.radius == r).unwrap()
    };
    let at31 = fm(Technology::Pdq, Some(31));
    assert_eq!((at31.rate.count, at31.rate.of), (1, 3));
    assert_eq!(
        (at31.pairs[0].a.as_str(), at31.pairs[0].b.as_str(), at31.pairs[0].distance),
        ("a", "bb", 5)
    );
    let at40 = summarise(&s_originals(), &Settings { radii: vec![40], ..settings.clone() });
    let f40 = at40.false_matches.iter().find(|f| f.technology == Technology::Pdq).unwrap();
    assert_eq!(f40.rate.count, 3);
    assert!(f40.rate.low < 1.0 && f40.rate.high == 1.0);
    assert_eq!(fm(Technology::Md5, None).rate.count, 0);
    // Unframed: any of one side's hashes near any of the other's — c's inside meets a and bb.
    let unframed = fm(Technology::PdqUnframed, Some(31));
    assert_eq!(unframed.rate.count, 3);
    let d =
        |x: &str, y: &str| unframed.pairs.iter().find(|p| p.a == x && p.b == y).unwrap().distance;
    assert_eq!((d("a", "bb"), d("a", "ccc"), d("bb", "ccc")), (5, 3, 2));
}

fn s_originals() -> Vec<Original> {
    vec![
        made("a", with_bits(0), &[]),
        made("bb", with_bits(5), &[]),
        made("ccc", with_bits(40), &[]),
    ]
}

#[test]
fn generated_pictures_are_compared_but_not_changed() {
    let settings = Settings::default();
    let (name, img) = spoor_eval::generate::picture(3, 1);
    let bytes = spoor_eval::png(&img).unwrap();
    let o = spoor_eval::evaluate_unchanged(&name, &bytes, &settings).unwrap();
    assert!(o.copies.is_empty() && !o.changed);
    assert!(o.used, "generated pictures are strong enough to hash: quality {}", o.quality);
}

mod names {
    use proptest::prelude::*;
    use spoor_eval::Change;

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_and_names_round_trip(s in "\\PC{0,24}") {
            if let Ok(c) = s.parse::<Change>() {
                let again: Change = c.to_string().parse().unwrap();
                prop_assert_eq!(again, c);
            }
        }
    }
}
