//! `spoor-eval` on videos: a benign test video changed in ways whose effect on vPDQ is known,
//! generated videos for the pairwise comparison, and a summary checked count by count against
//! hand-made records. Needs `ffmpeg` (the test command installs it).

use spoor_core::vpdq::VpdqFrame;
use spoor_core::{Hash256, Md5, Sha256};
use spoor_eval::video::{
    evaluate_video, evaluate_video_unchanged, generate_video, summarise_videos, Share, VideoChange,
    VideoCopy, VideoOriginal, VideoSettings,
};
use spoor_eval::{Medium, Technology};
use std::path::PathBuf;

fn video(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/video").join(name)
}

fn changes(names: &[&str]) -> Vec<VideoChange> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

fn md5_of(path: &std::path::Path) -> Md5 {
    spoor_hash::digest::Digests::of(&std::fs::read(path).unwrap()).md5
}

#[test]
fn a_video_changed_in_ways_whose_effect_is_known() {
    let scratch = tempfile::tempdir().unwrap();
    let mut settings = VideoSettings {
        changes: changes(&["h264_crf28", "cut_middle", "inserted", "fps_10", "mirror", "text"]),
        radii: vec![31],
        keep_copies: true,
        ..VideoSettings::new(scratch.path().to_path_buf())
    };
    // Frames decoded at a quarter of their size keep the test quick; the copies are made from
    // them, so they are 320×180 too.
    settings.hashing.video.scale = Some((320, 180));
    let path = video("doorknob-hd-no-bar.mp4");
    let o = evaluate_video(&path, "doorknob", "00000", &settings).unwrap();
    assert!(o.used && o.changed, "{o:?}");
    assert_eq!((o.width, o.height), (320, 180));
    assert!(o.frames > 100 && o.hashed >= 4, "{} frames, {} hashed", o.frames, o.hashed);
    assert_eq!(o.copies.len(), 6);
    let copy = |name: &str| o.copies.iter().find(|c| c.change == name).unwrap();
    let share = |name: &str| copy(name).shares[0];
    let n = o.frames;

    // Re-encoded: every frame still near the original's.
    let s = share("h264_crf28");
    assert!(s.matched && s.query_match == 100.0, "{s:?}");
    assert_eq!(copy("h264_crf28").frames, n);
    // The middle half: all of it is in the original, half of the original is in it.
    let s = share("cut_middle");
    assert!(s.matched && s.query_match == 100.0, "{s:?}");
    assert!(s.compared_match < 80.0, "{s:?}");
    assert_eq!(copy("cut_middle").frames, n / 2);
    // Between other footage: the original is two thirds of the copy, under the 80 % rule.
    let s = share("inserted");
    assert!(!s.matched && s.query_match > 40.0 && s.query_match < 80.0, "{s:?}");
    assert!(s.compared_match == 100.0, "{s:?}");
    assert_eq!(copy("inserted").frames, n + 2 * (n / 4));
    // Ten frames a second of thirty: a third of the frames, the same duration, still found.
    let c = copy("fps_10");
    assert_eq!((c.frames, c.frame_rate), (n.div_ceil(3), 10.0));
    assert!(c.shares[0].matched, "{:?}", c.shares[0]);
    // vPDQ has no mirror matching: a mirrored video is not found.
    assert!(!share("mirror").matched, "{:?}", share("mirror"));
    assert_eq!((copy("mirror").width, copy("mirror").height), (320, 180));
    // No copy has the original's bytes.
    assert!(o.copies.iter().all(|c| !c.md5_equal && !c.sha256_equal && c.bytes > 0));

    // The same ffmpeg makes the same copies: evaluated again, every file and figure repeats.
    let again = VideoSettings { changes: changes(&["text", "inserted"]), ..settings.clone() };
    let again = evaluate_video(&path, "doorknob", "00001", &again).unwrap();
    assert_eq!(again.copies.len(), 2);
    for b in &again.copies {
        let a = copy(&b.change);
        assert_eq!(
            md5_of(a.kept.as_ref().unwrap()),
            md5_of(b.kept.as_ref().unwrap()),
            "{}",
            a.change
        );
        assert_eq!(a.shares, b.shares, "{}", a.change);
    }
    // Copies not asked to be kept are gone once hashed.
    let plain = VideoSettings {
        changes: changes(&["h264_crf40"]),
        keep_copies: false,
        scratch: scratch.path().join("plain"),
        ..settings.clone()
    };
    let p = evaluate_video(&path, "doorknob", "x", &plain).unwrap();
    assert!(p.copies[0].kept.is_none());
    assert!(!scratch.path().join("plain/x").exists());
}

#[test]
fn generated_videos_are_distinct_and_compared_pairwise() {
    let scratch = tempfile::tempdir().unwrap();
    let settings = VideoSettings::new(scratch.path().to_path_buf());
    let mut all = Vec::new();
    for i in 0..3 {
        let out = scratch.path().join(format!("g{i}.mp4"));
        let name = generate_video(7, i, &out, &settings).unwrap();
        assert_eq!(name, format!("generated-video-{i:05}"));
        let first = md5_of(&out);
        generate_video(7, i, &out, &settings).unwrap();
        assert_eq!(md5_of(&out), first, "deterministic");
        let o = evaluate_video_unchanged(&out, &name, &settings).unwrap();
        assert_eq!((o.width, o.height, o.frames, o.changed), (320, 240, 90, false));
        assert_eq!(o.hashed, 6, "six seconds, one frame a second");
        all.push(o);
    }
    let s = summarise_videos(&all, &settings);
    assert_eq!((s.originals, s.compared, s.skipped), (0, 3, 0));
    let fm = |t: Technology| s.false_matches.iter().find(|f| f.technology == t).unwrap();
    assert_eq!(fm(Technology::Vpdq).rate.of, 3);
    assert_eq!(fm(Technology::Vpdq).rate.count, 0, "{:?}", fm(Technology::Vpdq));
    let frames: Vec<u64> = all.iter().map(|o| o.good as u64).collect();
    assert_eq!(
        fm(Technology::VpdqFrame).rate.of,
        frames[0] * frames[1] + frames[0] * frames[2] + frames[1] * frames[2]
    );
    assert!(s.false_matches.iter().all(|f| f.medium == Medium::Video));
}

#[test]
fn an_unreadable_video_is_an_error_that_says_so() {
    let scratch = tempfile::tempdir().unwrap();
    let bad = scratch.path().join("bad.mp4");
    std::fs::write(&bad, b"\0\0\0\x20ftypisom not really a video").unwrap();
    let settings = VideoSettings::new(scratch.path().to_path_buf());
    let e = evaluate_video(&bad, "bad", "0", &settings).unwrap_err();
    assert!(e.to_string().starts_with("cannot hash the original"), "{e}");
    let e = evaluate_video(&scratch.path().join("missing.mp4"), "m", "1", &settings).unwrap_err();
    assert!(e.to_string().starts_with("cannot read"), "{e}");
}

fn h(k: u64) -> Hash256 {
    // Far-apart hashes: distinct SplitMix outputs.
    let mut x = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut next = || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    Hash256::from_words([next(), next(), next(), next()])
}

/// `x` with bits `from..from + count` flipped.
fn flip(x: Hash256, from: u32, count: u32) -> Hash256 {
    let mut w = x.words();
    for b in from..from + count {
        w[(b / 64) as usize] ^= 1 << (b % 64);
    }
    Hash256::from_words(w)
}

fn original(name: &str, frames: &[Hash256], copies: Vec<VideoCopy>) -> VideoOriginal {
    VideoOriginal {
        name: name.into(),
        width: 64,
        height: 64,
        frame_rate: 1.0,
        frames: frames.len() as u64,
        hashed: frames.len(),
        good: frames.len(),
        md5: Md5([name.len() as u8; 16]),
        sha256: Sha256([name.len() as u8; 32]),
        used: true,
        changed: !copies.is_empty(),
        features: frames
            .iter()
            .enumerate()
            .map(|(i, &hash)| VpdqFrame { hash, quality: 100, timestamp: i as f64 })
            .collect(),
        copies,
    }
}

fn copy(change: &str, matched: [bool; 2]) -> VideoCopy {
    VideoCopy {
        change: change.into(),
        width: 64,
        height: 64,
        frames: 1,
        frame_rate: 1.0,
        bytes: 1,
        hashed: 1,
        good: 1,
        shares: [16, 31]
            .iter()
            .zip(matched)
            .map(|(&radius, matched)| Share {
                radius,
                query_match: 0.0,
                compared_match: 0.0,
                matched,
            })
            .collect(),
        md5_equal: false,
        sha256_equal: false,
        kept: None,
    }
}

#[test]
fn the_summary_counts_what_the_records_hold() {
    let settings = VideoSettings {
        changes: changes(&["h264_crf28", "mirror"]),
        radii: vec![31, 16],
        ..VideoSettings::new(PathBuf::from("/nonexistent"))
    };
    // a and b share one frame at distance 20 of their three: 1 of 3 frames (33 %), no vPDQ
    // match; c is b's frames at distance 10 (a vPDQ match of b at both radii).
    let fa = [h(1), h(2), h(3)];
    let fb = [flip(h(1), 0, 20), h(5), h(6)];
    let fc = [flip(fb[0], 100, 10), flip(fb[1], 100, 10), flip(fb[2], 100, 10)];
    let videos = vec![
        original("a", &fa, vec![copy("h264_crf28", [true, true]), copy("mirror", [false, false])]),
        original(
            "bb",
            &fb,
            vec![copy("h264_crf28", [false, true]), copy("mirror", [false, false])],
        ),
        original("ccc", &fc, vec![]),
        VideoOriginal { used: false, ..original("dddd", &[h(9)], vec![]) },
    ];
    let s = summarise_videos(&videos, &settings);
    assert_eq!((s.originals, s.compared, s.skipped), (2, 3, 1));
    let recall = |c: &str, t: Technology, r: Option<u32>| {
        let x =
            s.recall.iter().find(|x| x.change == c && x.technology == t && x.radius == r).unwrap();
        (x.recall.count, x.recall.of)
    };
    assert_eq!(recall("h264_crf28", Technology::Vpdq, Some(16)), (1, 2));
    assert_eq!(recall("h264_crf28", Technology::Vpdq, Some(31)), (2, 2));
    assert_eq!(recall("mirror", Technology::Vpdq, Some(31)), (0, 2));
    assert_eq!(recall("mirror", Technology::Md5, None), (0, 2));
    let fm = |t: Technology, r: Option<u32>| {
        s.false_matches.iter().find(|f| f.technology == t && f.radius == r).unwrap()
    };
    // Video pairs: (a,b) no, (a,c) no, (b,c) yes at 16 and 31.
    for r in [16, 31] {
        let f = fm(Technology::Vpdq, Some(r));
        assert_eq!((f.rate.count, f.rate.of), (1, 3), "radius {r}");
        assert_eq!((f.pairs[0].a.as_str(), f.pairs[0].b.as_str()), ("bb", "ccc"));
        assert_eq!(f.pairs[0].distance, 10);
    }
    // Frame pairs: 27 in all; within 31: a0~b0 (20), a0~c0 (30), and b_k~c_k (10) three
    // times, = 5; within 16: the three b~c.
    assert_eq!(fm(Technology::VpdqFrame, Some(31)).rate.count, 5);
    assert_eq!(fm(Technology::VpdqFrame, Some(31)).rate.of, 27);
    assert_eq!(fm(Technology::VpdqFrame, Some(16)).rate.count, 3);
    assert_eq!(fm(Technology::Md5, None).rate.count, 0);
}
