//! `spoor hash` on videos (vPDQ through ffmpeg), mixed with images in one call.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn video(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/video").join(name)
}

fn hash(args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .arg("hash")
        .args(args)
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    let recs = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code(), recs)
}

#[test]
fn videos_and_images_in_one_call() {
    let image = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/pdq/bridge-mods/aaa-orig.jpg");
    let (code, recs) =
        hash(&[video("doorknob-hd-no-bar.mp4").to_str().unwrap(), image.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    let v = &recs[0];
    assert_eq!(
        (v["frames"].as_u64(), v["duration"].as_f64(), v["width"].as_u64()),
        (Some(120), Some(4.0), Some(1280))
    );
    let frames = v["vpdq"].as_array().unwrap();
    // One frame a second by default: frames 0, 30, 60, 90 of a 30 fps video.
    assert_eq!(
        frames.iter().map(|f| f["frame"].as_u64().unwrap()).collect::<Vec<_>>(),
        [0, 30, 60, 90]
    );
    assert_eq!(frames[1]["timestamp"], 1.0);
    let md5 = Command::new("md5sum").arg(video("doorknob-hd-no-bar.mp4")).output().unwrap();
    assert_eq!(
        v["md5"].as_str().unwrap(),
        String::from_utf8_lossy(&md5.stdout).split(' ').next().unwrap()
    );
    assert_eq!(recs[1]["pdq"], "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22");
}

#[test]
fn every_frame_and_the_reference() {
    let (_, recs) =
        hash(&[video("pattern-sd-grey-bar.mp4").to_str().unwrap(), "--vpdq-fps", "all"]);
    let frames = recs[0]["vpdq"].as_array().unwrap();
    let expected = std::fs::read_to_string(video("vpdq-expected/pattern-sd-grey-bar.txt")).unwrap();
    assert_eq!(frames.len(), expected.lines().count());
    for (f, e) in frames.iter().zip(expected.lines()) {
        let e: Vec<&str> = e.split(',').collect();
        assert_eq!(f["frame"].as_u64().unwrap().to_string(), e[0]);
        let a: spoor_core::Hash256 = f["pdq"].as_str().unwrap().parse().unwrap();
        let b: spoor_core::Hash256 = e[2].parse().unwrap();
        assert!(a.distance(&b) <= 2, "frame {}", e[0]);
    }
}

#[test]
fn broken_videos_are_error_records() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(video("pattern-sd-grey-bar.mp4")).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let (code, recs) = hash(&[cut.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(recs[0]["error"].as_str().unwrap().contains("decoding failed after"), "{}", recs[0]);
    let (_, recs) =
        hash(&[video("doorknob-hd-no-bar.mp4").to_str().unwrap(), "--max-pixels", "100000"]);
    assert!(recs[0]["error"].as_str().unwrap().contains("1280x720"), "{}", recs[0]);
    let (_, recs) = hash(&[
        video("doorknob-hd-no-bar.mp4").to_str().unwrap(),
        "--ffmpeg",
        "/nonexistent/ffmpeg",
    ]);
    assert!(recs[0]["error"].as_str().unwrap().contains("apt install ffmpeg"), "{}", recs[0]);
}
