//! Frame hashes against the vPDQ reference's published output for every sample video:
//! `../shared/testdata/video/vpdq-expected/NAME.txt` (every frame, `frame,quality,pdq,timestamp`).
//! Needs `ffmpeg` (the test command installs it).

use std::path::PathBuf;

use spoor_core::Hash256;
use spoor_vpdq::{hash_file, Options, VideoOptions};

fn video_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/video")
}

struct Expected {
    frame: u64,
    quality: u8,
    hash: Hash256,
    timestamp: f64,
}

fn expected(name: &str) -> Vec<Expected> {
    let text = std::fs::read_to_string(video_dir().join("vpdq-expected").join(name)).unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Expected {
                frame: f[0].parse().unwrap(),
                quality: f[1].parse().unwrap(),
                hash: f[2].parse().unwrap(),
                timestamp: f[3].parse().unwrap(),
            }
        })
        .collect()
}

fn check(scale: Option<(u32, u32)>, suffix: &str, min_within_10: f64) {
    let mut names: Vec<String> = std::fs::read_dir(video_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".mp4"))
        .collect();
    names.sort();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for name in &names {
        let stem = name.trim_end_matches(".mp4");
        let exp_name = format!("{stem}{suffix}.txt");
        if !video_dir().join("vpdq-expected").join(&exp_name).exists() {
            continue;
        }
        let exp = expected(&exp_name);
        let opts = Options { fps: None, video: VideoOptions { scale, ..Default::default() } };
        let got =
            hash_file(&video_dir().join(name), &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let n = exp.len();
        let mut exact = 0;
        let mut within10 = 0;
        let mut max = 0;
        for (g, e) in got.frames.iter().zip(&exp) {
            assert_eq!(g.frame, e.frame, "{name}");
            assert!(
                (g.timestamp - e.timestamp).abs() < 0.0015,
                "{name} frame {}: {} vs {}",
                e.frame,
                g.timestamp,
                e.timestamp
            );
            let d = g.hash.distance(&e.hash);
            exact += usize::from(d == 0);
            within10 += usize::from(d <= 10);
            max = max.max(d);
            let _ = e.quality;
        }
        let share = within10 as f64 * 100.0 / n as f64;
        report.push(format!(
            "{exp_name:<44} frames {:>4}/{:<4} bit-exact {:>4} ({:>5.1}%)  within 10 bits {:>5.1}%  max {max}",
            got.frames.len(),
            n,
            exact,
            exact as f64 * 100.0 / n as f64,
            share
        ));
        if got.frames.len() != n {
            failures.push(format!("{name}: {} frames, the reference has {n}", got.frames.len()));
        }
        if share < min_within_10 {
            failures
                .push(format!("{name}: {share:.1}% of frames within 10 bits (< {min_within_10}%)"));
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(report.len() >= 12, "the sample videos are missing");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_frame_matches_the_reference() {
    check(None, "", 99.0);
}

#[test]
fn downscaled_frames_match_the_reference() {
    check(Some((128, 128)), "-128x128", 99.0);
}
