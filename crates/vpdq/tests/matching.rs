//! vPDQ matching on the sample videos and copies made with ffmpeg: each video matches itself,
//! a re-encoded copy at a low bitrate, a 128x128 copy and its first half; videos of other scenes
//! do not match. Needs `ffmpeg`.

use std::path::{Path, PathBuf};
use std::process::Command;

use spoor_vpdq::{compare, hash_file, Options, Thresholds, VideoError, VideoOptions};

fn video(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/video").join(name)
}

fn ffmpeg(args: &[&str]) {
    let out =
        Command::new("ffmpeg").args(["-nostdin", "-v", "error", "-y"]).args(args).output().unwrap();
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn features(p: &Path) -> Vec<spoor_core::vpdq::VpdqFrame> {
    let opts = Options { fps: Some(2.0), video: VideoOptions::default() };
    hash_file(p, &opts).unwrap_or_else(|e| panic!("{}: {e}", p.display())).features()
}

#[test]
fn videos_match_their_copies_and_not_other_scenes() {
    let dir = tempfile::tempdir().unwrap();
    let t = Thresholds::default();
    let scenes = ["chair-19-sd-bar.mp4", "pattern-hd-no-bar.mp4", "doorknob-hd-no-bar.mp4"];
    let originals: Vec<_> = scenes.iter().map(|n| features(&video(n))).collect();
    for (i, name) in scenes.iter().enumerate() {
        let src = video(name);
        let low = dir.path().join(format!("{i}-low.mp4"));
        let small = dir.path().join(format!("{i}-small.mp4"));
        let half = dir.path().join(format!("{i}-half.mp4"));
        ffmpeg(&[
            "-i",
            src.to_str().unwrap(),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "400k",
            "-an",
            low.to_str().unwrap(),
        ]);
        ffmpeg(&[
            "-i",
            src.to_str().unwrap(),
            "-vf",
            "scale=128:128",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-an",
            small.to_str().unwrap(),
        ]);
        let duration = originals[i].last().unwrap().timestamp;
        let cut = format!("{:.2}", duration / 2.0);
        ffmpeg(&[
            "-i",
            src.to_str().unwrap(),
            "-t",
            &cut,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-an",
            half.to_str().unwrap(),
        ]);

        let m = compare(&originals[i], &originals[i], &t);
        assert!(m.is_match && m.query_match == 100.0, "{name} against itself: {m:?}");
        for copy in [&low, &small, &half] {
            let c = features(copy);
            let m = compare(&c, &originals[i], &t);
            eprintln!(
                "{name} copy {}: query {:.1}% compared {:.1}%",
                copy.display(),
                m.query_match,
                m.compared_match
            );
            assert!(m.is_match, "{name}: {} does not match: {m:?}", copy.display());
        }
        for (j, other) in originals.iter().enumerate() {
            if j != i {
                let m = compare(&originals[i], other, &t);
                assert!(!m.is_match, "{name} matches {}: {m:?}", scenes[j]);
            }
        }
    }
}

#[test]
fn bad_input_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        fps: Some(1.0),
        video: VideoOptions { timeout: std::time::Duration::from_secs(60), ..Default::default() },
    };
    // Truncated: the first third of an MP4 (its index is at the end).
    let bytes = std::fs::read(video("pattern-sd-grey-bar.mp4")).unwrap();
    let truncated = dir.path().join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let e = hash_file(&truncated, &opts).unwrap_err();
    assert!(matches!(e, VideoError::Unreadable(_) | VideoError::Decode { .. }), "{e}");
    // Not a video.
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "just some text, not a video").unwrap();
    assert!(matches!(hash_file(&text, &opts), Err(VideoError::Unreadable(_))));
    // Audio only.
    let audio = dir.path().join("tone.m4a");
    ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440:duration=1", audio.to_str().unwrap()]);
    let e = hash_file(&audio, &opts).unwrap_err();
    assert!(matches!(e, VideoError::NoVideoStream), "{e}");
    // Declared size over the limit: refused before decoding.
    let small_limit =
        Options { fps: None, video: VideoOptions { max_pixels: 100_000, ..Default::default() } };
    let e = hash_file(&video("doorknob-hd-no-bar.mp4"), &small_limit).unwrap_err();
    assert!(matches!(e, VideoError::TooManyPixels { width: 1280, height: 720, .. }), "{e}");
    // Too many frames, and too slow.
    let few = Options { fps: None, video: VideoOptions { max_frames: 10, ..Default::default() } };
    assert!(matches!(
        hash_file(&video("doorknob-hd-no-bar.mp4"), &few),
        Err(VideoError::Decode { frames: 10, .. })
    ));
    let hurry = Options {
        fps: None,
        video: VideoOptions { timeout: std::time::Duration::from_millis(1), ..Default::default() },
    };
    assert!(matches!(
        hash_file(&video("pattern-longer-no-bar.mp4"), &hurry),
        Err(VideoError::Timeout(_))
    ));
    // No ffmpeg.
    let none = Options {
        fps: None,
        video: VideoOptions { ffmpeg: "/nonexistent/ffmpeg".into(), ..Default::default() },
    };
    let e = hash_file(&video("doorknob-hd-no-bar.mp4"), &none).unwrap_err();
    assert!(e.to_string().contains("apt install ffmpeg"), "{e}");
}
