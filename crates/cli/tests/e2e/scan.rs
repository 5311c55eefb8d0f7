//! `spoor scan` end to end: the real binary on generated trees of benign test images.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pdq").join(rel)
}

const BRIDGE: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

fn spoor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spoor")).args(args).output().unwrap()
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn matched_paths(out: &Output, root: &Path) -> BTreeSet<String> {
    records(out)
        .iter()
        .filter(|r| r["matches"].as_array().is_some_and(|m| !m.is_empty()))
        .map(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .trim_start_matches(&format!("{}/", root.display()))
                .to_string()
        })
        .collect()
}

fn copy(from: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(testdata(from), to).unwrap();
}

/// A tree: resized and re-encoded copies of the bridge photo under odd names (hidden directory,
/// no extension, wrong extension), unrelated photos, a text file, a corrupt JPEG.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    copy("bridge-mods/square-256x256.jpg", &t.join("www/img/a.jpg"));
    copy("bridge-mods/shrink-a-lot.jpg", &t.join("www/.cache/blob"));
    copy("bridge-mods/square-512x512.jpg", &t.join("home/u/photo.png"));
    copy("bridge-mods/blur-a-little.jpg", &t.join("home/u/deep/er/x.jpeg"));
    for (i, name) in ["q0003.jpg", "q0004.jpg", "q0122.jpg"].iter().enumerate() {
        copy(
            &format!("reg-test-input/labelme-subset/{name}"),
            &t.join(format!("home/u/other{i}.jpg")),
        );
    }
    copy("misc-images/small.jpg", &t.join("www/small.jpg"));
    std::fs::write(t.join("www/index.html"), "<html></html>").unwrap();
    let mut broken = std::fs::read(testdata("bridge-mods/aaa-orig.jpg")).unwrap();
    broken.truncate(5000);
    std::fs::write(t.join("home/u/broken.jpg"), broken).unwrap();
    dir
}

const COPIES: [&str; 4] =
    ["www/img/a.jpg", "www/.cache/blob", "home/u/photo.png", "home/u/deep/er/x.jpeg"];

fn list(dir: &Path) -> PathBuf {
    let p = dir.join("list.txt");
    std::fs::write(&p, format!("# the bridge\n{BRIDGE}\n")).unwrap();
    p
}

#[test]
fn finds_exactly_the_banked_images() {
    let t = tree();
    let aux = tempfile::tempdir().unwrap();
    let l = list(aux.path());
    let root = t.path();
    let out =
        spoor(&["scan", root.to_str().unwrap(), "--bank-file", l.to_str().unwrap(), "-j", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(matched_paths(&out, root), COPIES.iter().map(|s| s.to_string()).collect());
    let recs = records(&out);
    let errors: Vec<_> = recs.iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!(errors.len(), 1);
    assert!(errors[0]["path"].as_str().unwrap().ends_with("broken.jpg"));
    for r in recs.iter().filter(|r| r.get("matches").is_some()) {
        let m = &r["matches"][0];
        assert_eq!(
            (m["entry_id"].as_i64(), m["bank"].as_str()),
            (Some(2), l.to_str()),
            "the list's line number"
        );
        assert!(m["distance"].as_u64().unwrap() <= 31);
        assert_eq!(r["md5"].as_str().unwrap().len(), 32);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("10 files, 8 media (8 hashed, 0 from the cache), 4 matched, 1 errors"),
        "{err}"
    );

    // --all prints the media that matched nothing too; text output for people.
    let all = spoor(&["scan", root.to_str().unwrap(), "--bank-file", l.to_str().unwrap(), "--all"]);
    assert_eq!(records(&all).len(), 9);
    let text = spoor(&[
        "scan",
        root.to_str().unwrap(),
        "--bank-file",
        l.to_str().unwrap(),
        "--format",
        "text",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&text.stdout).lines().filter(|l| l.starts_with("MATCH")).count(),
        4
    );
}

#[test]
fn exit_status_says_what_happened() {
    let t = tree();
    let aux = tempfile::tempdir().unwrap();
    let l = list(aux.path());
    let root = t.path();
    // Only unrelated photos and the corrupt file: 2. Unrelated photos alone: 0.
    let other = root.join("home/u");
    for c in ["photo.png", "deep/er/x.jpeg"] {
        std::fs::remove_file(other.join(c)).unwrap();
    }
    let out = spoor(&["scan", other.to_str().unwrap(), "--bank-file", l.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_file(other.join("broken.jpg")).unwrap();
    let out = spoor(&["scan", other.to_str().unwrap(), "--bank-file", l.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(records(&out).is_empty());
    // A missing path is an error before anything is scanned.
    let out = spoor(&["scan", "/nonexistent/spoor", "--bank-file", l.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
    // A malformed list names its line.
    std::fs::write(aux.path().join("bad.txt"), format!("{BRIDGE}\nxyz\n")).unwrap();
    let out = spoor(&[
        "scan",
        other.to_str().unwrap(),
        "--bank-file",
        aux.path().join("bad.txt").to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.txt:2:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn excludes_and_symbolic_links() {
    let t = tree();
    let aux = tempfile::tempdir().unwrap();
    let l = list(aux.path());
    let root = t.path();
    let out = spoor(&[
        "scan",
        root.to_str().unwrap(),
        "--bank-file",
        l.to_str().unwrap(),
        "--exclude",
        ".cache",
        "--exclude",
        "*.jpeg",
    ]);
    assert_eq!(
        matched_paths(&out, root),
        ["home/u/photo.png", "www/img/a.jpg"].iter().map(|s| s.to_string()).collect()
    );

    // A link out of the tree is not followed unless asked.
    let outside = tempfile::tempdir().unwrap();
    copy("bridge-mods/square-128x128.jpg", &outside.path().join("secret.jpg"));
    std::os::unix::fs::symlink(outside.path(), root.join("www/link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("www/dangling")).unwrap();
    let out = spoor(&["scan", root.to_str().unwrap(), "--bank-file", l.to_str().unwrap()]);
    assert_eq!(matched_paths(&out, root).len(), 4);
    let out = spoor(&[
        "scan",
        root.to_str().unwrap(),
        "--bank-file",
        l.to_str().unwrap(),
        "--follow-symlinks",
    ]);
    let m = matched_paths(&out, root);
    assert!(m.contains("www/link/secret.jpg"), "{m:?}");
    assert!(records(&out)
        .iter()
        .any(|r| r["path"].as_str().unwrap().ends_with("dangling") && r.get("error").is_some()));
}

#[test]
fn dihedral_finds_rotated_copies() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["bridge-2-rotate-90.jpg", "bridge-5-flipx.jpg"] {
        copy(&format!("reg-test-input/dih/{n}"), &dir.path().join(n));
    }
    let aux = tempfile::tempdir().unwrap();
    let h = spoor(&[
        "hash",
        testdata("reg-test-input/dih/bridge-1-original.jpg").to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    let orig: Value = serde_json::from_slice(&h.stdout).unwrap();
    let l = aux.path().join("l.txt");
    std::fs::write(&l, format!("{}\n", orig["pdq"].as_str().unwrap())).unwrap();
    let plain = spoor(&["scan", dir.path().to_str().unwrap(), "--bank-file", l.to_str().unwrap()]);
    assert_eq!(plain.status.code(), Some(0));
    let out = spoor(&[
        "scan",
        dir.path().to_str().unwrap(),
        "--bank-file",
        l.to_str().unwrap(),
        "--dihedral",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    let transforms: BTreeSet<String> =
        recs.iter().map(|r| r["matches"][0]["transform"].as_str().unwrap().to_string()).collect();
    assert_eq!(transforms, ["flipx", "rot270"].iter().map(|s| s.to_string()).collect(), "{recs:?}");
}

#[test]
fn store_source_and_cache() {
    let t = tree();
    let root = t.path();
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let aux = tempfile::tempdir().unwrap();
    let l = list(aux.path());
    for b in ["HOTLINE", "OTHER"] {
        assert!(spoor(&["bank", "--data-dir", d, "create", b]).status.success());
    }
    assert!(spoor(&["bank", "--data-dir", d, "import", "HOTLINE", l.to_str().unwrap()])
        .status
        .success());
    let out = spoor(&["scan", root.to_str().unwrap(), "--data-dir", d]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(matched_paths(&out, root).len(), 4);
    assert_eq!(
        records(&out).iter().find(|r| r.get("matches").is_some()).unwrap()["matches"][0]["bank"],
        "HOTLINE"
    );
    let out = spoor(&["scan", root.to_str().unwrap(), "--data-dir", d, "--bank", "OTHER"]);
    assert_eq!(matched_paths(&out, root).len(), 0);
    let out = spoor(&["scan", root.to_str().unwrap(), "--data-dir", d, "--bank", "NOPE"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no bank named \"NOPE\""));

    // Cache: scanning part of the tree, then all of it, hashes only the rest; again, nothing.
    let cache = aux.path().join("scan.cache");
    let c = cache.to_str().unwrap();
    let out = spoor(&["scan", root.join("www").to_str().unwrap(), "--data-dir", d, "--cache", c]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3 media (3 hashed, 0 from the cache)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = spoor(&["scan", root.to_str().unwrap(), "--data-dir", d, "--cache", c]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("8 media (5 hashed, 3 from the cache)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(matched_paths(&out, root).len(), 4, "cached hashes still match");
    let out = spoor(&["scan", root.to_str().unwrap(), "--data-dir", d, "--cache", c]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("8 media (0 hashed, 8 from the cache)"));
    // A changed file is hashed again.
    std::fs::copy(testdata("misc-images/wee.jpg"), root.join("www/small.jpg")).unwrap();
    let out = spoor(&["scan", root.to_str().unwrap(), "--data-dir", d, "--cache", c]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("8 media (1 hashed, 7 from the cache)"));
}

#[test]
fn interrupted_scan_resumes_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let photo = std::fs::read(testdata("bridge-mods/aaa-orig.jpg")).unwrap();
    let n = 600;
    for i in 0..n {
        let sub = dir.path().join(format!("d{}", i % 10));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("{i}.jpg")), &photo).unwrap();
    }
    let aux = tempfile::tempdir().unwrap();
    let empty = aux.path().join("empty.txt");
    std::fs::write(&empty, format!("{}\n", "0".repeat(64))).unwrap();
    let cache = aux.path().join("c.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args([
            "scan",
            dir.path().to_str().unwrap(),
            "--bank-file",
            empty.to_str().unwrap(),
            "--all",
            "-j",
            "1",
        ])
        .args(["--cache", cache.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..40 {
        lines.next().unwrap().unwrap();
    }
    // Ctrl-C.
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let done: u64 =
        err.split(" media (").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(done >= 40 && done < n, "{err}");
    let out = spoor(&[
        "scan",
        dir.path().to_str().unwrap(),
        "--bank-file",
        empty.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    let expect = format!("{n} media ({} hashed, {done} from the cache)", n - done);
    assert!(err.contains(&expect), "{expect}: {err}");
}

#[test]
fn through_a_spoor_service_only_hashes_leave() {
    let t = tree();
    let root = t.path();
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let aux = tempfile::tempdir().unwrap();
    let l = list(aux.path());
    assert!(spoor(&["bank", "--data-dir", d, "create", "HOTLINE"]).status.success());
    assert!(spoor(&["bank", "--data-dir", d, "import", "HOTLINE", l.to_str().unwrap()])
        .status
        .success());
    let key = String::from_utf8(
        spoor(&["keys", "--data-dir", d, "create", "--role", "matcher", "--name", "scanner"])
            .stdout,
    )
    .unwrap();
    let key = key.lines().last().unwrap().to_string();
    let mut server = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["serve", "--data-dir", d, "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    let base = loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "spoor serve exited");
        if let Some(rest) = line.split("serving on ").nth(1) {
            break rest.split(' ').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in err.lines() {});
    let out = spoor(&["scan", root.to_str().unwrap(), "--server", &base, "--key", &key]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(matched_paths(&out, root), COPIES.iter().map(|s| s.to_string()).collect());
    let first = records(&out).into_iter().find(|r| r.get("matches").is_some()).unwrap();
    assert_eq!(first["matches"][0]["bank"], "HOTLINE");
    // The key was made without --show-distance: no distance, and none made up (never 0).
    assert!(first["matches"][0].get("distance").is_none(), "{first}");
    let trusted = String::from_utf8(
        spoor(&[
            "keys",
            "--data-dir",
            d,
            "create",
            "--role",
            "matcher",
            "--name",
            "trusted",
            "--show-distance",
        ])
        .stdout,
    )
    .unwrap();
    let trusted = trusted.lines().last().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1500)); // keys are re-read every second
    let out = spoor(&["scan", root.to_str().unwrap(), "--server", &base, "--key", &trusted]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    for r in records(&out).iter().filter(|r| r.get("matches").is_some()) {
        assert!(r["matches"][0]["distance"].as_u64().unwrap() <= 31, "{r}");
    }
    // A wrong key fails before anything is walked.
    let out = spoor(&[
        "scan",
        root.to_str().unwrap(),
        "--server",
        &base,
        "--key",
        "spoor_000000000000_00",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid or revoked API key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn digests_match_exactly() {
    let t = tree();
    let root = t.path();
    let aux = tempfile::tempdir().unwrap();
    let h = spoor(&["hash", root.join("www/small.jpg").to_str().unwrap(), "--format", "jsonl"]);
    let small: Value = serde_json::from_slice(&h.stdout).unwrap();
    let h = spoor(&["hash", root.join("home/u/other1.jpg").to_str().unwrap(), "--format", "jsonl"]);
    let other: Value = serde_json::from_slice(&h.stdout).unwrap();
    let l = aux.path().join("digests.txt");
    std::fs::write(
        &l,
        format!(
            "sha256 {}\nmd5 {}\n",
            small["sha256"].as_str().unwrap(),
            other["md5"].as_str().unwrap()
        ),
    )
    .unwrap();
    let out = spoor(&["scan", root.to_str().unwrap(), "--bank-file", l.to_str().unwrap()]);
    assert_eq!(
        matched_paths(&out, root),
        ["home/u/other1.jpg", "www/small.jpg"].iter().map(|s| s.to_string()).collect()
    );
    let rec = records(&out)
        .into_iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("small.jpg"))
        .unwrap();
    assert_eq!(
        (rec["matches"][0]["entry_id"].as_i64(), rec["matches"][0]["distance"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(rec["sha256"], small["sha256"]);
}

#[test]
fn videos_match_by_vpdq() {
    let dir = tempfile::tempdir().unwrap();
    let videos = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/video");
    let orig = videos.join("doorknob-hd-no-bar.mp4");
    // A re-encoded copy under a neutral name, and an unrelated video.
    let copy = dir.path().join("upload-7731");
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            orig.to_str().unwrap(),
            "-c:v",
            "libx264",
            "-b:v",
            "400k",
            "-an",
            "-f",
            "mp4",
        ])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::copy(videos.join("pattern-sd-grey-bar.mp4"), dir.path().join("other.mp4")).unwrap();
    // The list holds the original's vPDQ (from `spoor hash`) in the bank text form.
    let h = spoor(&["hash", orig.to_str().unwrap(), "--format", "jsonl"]);
    let rec: Value = serde_json::from_slice(&h.stdout).unwrap();
    let frames: Vec<String> = rec["vpdq"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{},{},{}", f["pdq"].as_str().unwrap(), f["quality"], f["timestamp"]))
        .collect();
    let aux = tempfile::tempdir().unwrap();
    let list = aux.path().join("videos.jsonl");
    let entry = serde_json::json!({"signal_type": "vpdq", "value": serde_json::to_string(&frames).unwrap()});
    std::fs::write(&list, format!("{entry}\n")).unwrap();
    let out = spoor(&[
        "scan",
        dir.path().to_str().unwrap(),
        "--bank-file",
        list.to_str().unwrap(),
        "--all",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let recs = records(&out);
    assert_eq!(recs.len(), 2, "{recs:?}");
    let hit = recs.iter().find(|r| r["path"].as_str().unwrap().ends_with("upload-7731")).unwrap();
    assert!(hit["matches"][0]["query_match"].as_f64().unwrap() >= 80.0, "{hit}");
    assert!(hit["vpdq_frames"].as_u64().unwrap() >= 3);
    let other = recs.iter().find(|r| r["path"].as_str().unwrap().ends_with("other.mp4")).unwrap();
    assert!(other["matches"].as_array().unwrap().is_empty());
}

/// `--unframed`: copies of a banked photo in a frame (a white border saved as PNG, letterbox
/// bars saved as JPEG) match as `unframed`, a framed unrelated photo does not, and a plain scan
/// finds none of them. A cache written without frames (or by a version without the columns)
/// is looked at again when frames are asked for.
#[test]
fn unframed_finds_framed_copies() {
    let dir = tempfile::tempdir().unwrap();
    let orig = image::open(testdata("reg-test-input/dih/bridge-1-original.jpg")).unwrap().to_rgb8();
    let (w, h) = orig.dimensions();
    let frame = |img: &image::RgbImage, bw: u32, bh: u32, c: [u8; 3]| {
        let mut out =
            image::RgbImage::from_pixel(img.width() + 2 * bw, img.height() + 2 * bh, image::Rgb(c));
        image::imageops::replace(&mut out, img, i64::from(bw), i64::from(bh));
        out
    };
    frame(&orig, w / 12, h / 12, [255, 255, 255]).save(dir.path().join("framed.png")).unwrap();
    let boxed = frame(&orig, 0, h / 8, [0, 0, 0]);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80).encode_image(&boxed).unwrap();
    std::fs::write(dir.path().join("letterbox.jpg"), jpeg).unwrap();
    let other = image::open(testdata("reg-test-input/labelme-subset/q0003.jpg")).unwrap().to_rgb8();
    frame(&other, 20, 20, [255, 255, 255]).save(dir.path().join("other-framed.png")).unwrap();

    let aux = tempfile::tempdir().unwrap();
    let hashed = spoor(&[
        "hash",
        testdata("reg-test-input/dih/bridge-1-original.jpg").to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    let pdq: Value = serde_json::from_slice(&hashed.stdout).unwrap();
    let list = aux.path().join("l.txt");
    std::fs::write(&list, format!("{}\n", pdq["pdq"].as_str().unwrap())).unwrap();
    // `spoor hash --unframed`: the inside of the lossless framed copy is the photo, bit for bit.
    let framed_png = dir.path().join("framed.png");
    let out = spoor(&["hash", "--unframed", "--format", "jsonl", framed_png.to_str().unwrap()]);
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["pdq_unframed"], pdq["pdq"], "{rec}");
    let (bw, bh) = ((w / 12) as u64, (h / 12) as u64);
    assert_eq!(rec["frame"], serde_json::json!([bw, bh, bw, bh]), "{rec}");
    assert_ne!(rec["pdq"], pdq["pdq"], "the whole framed copy hashes otherwise");
    let plain = testdata("reg-test-input/dih/bridge-1-original.jpg");
    let out = spoor(&["hash", "--unframed", "--format", "jsonl", plain.to_str().unwrap()]);
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rec.get("frame").is_none() && rec.get("pdq_unframed").is_none(), "{rec}");
    let cache = aux.path().join("scan.cache");
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            dir.path().to_str().unwrap(),
            "--bank-file",
            list.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        spoor(&args)
    };
    let plain = scan(&[]);
    assert_eq!(plain.status.code(), Some(0), "{}", String::from_utf8_lossy(&plain.stderr));
    let framed = |out: &Output| {
        let recs = records(out);
        let mut found = BTreeSet::new();
        for r in &recs {
            if let Some(m) = r["matches"].as_array().filter(|m| !m.is_empty()) {
                assert_eq!(m[0]["transform"], "unframed", "{r}");
                assert!(m[0]["distance"].as_u64().unwrap() <= 31, "{r}");
                found.insert(
                    Path::new(r["path"].as_str().unwrap())
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .to_string(),
                );
            }
        }
        found
    };
    let want: BTreeSet<String> =
        ["framed.png", "letterbox.jpg"].iter().map(|s| s.to_string()).collect();
    // The cache holds these files without frames: they are hashed again.
    let out = scan(&["--unframed"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(framed(&out), want);
    // Now from the cache, the same.
    assert_eq!(framed(&scan(&["--unframed"])), want);
    assert_eq!(
        scan(&[]).status.code(),
        Some(0),
        "without --unframed the cached inside is not matched"
    );

    // A cache of a version without the frame columns is brought up to date and used.
    let old = aux.path().join("old.cache");
    let conn = rusqlite::Connection::open(&old).unwrap();
    conn.execute_batch(
        "CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
             kind INTEGER NOT NULL, pdq BLOB, quality INTEGER, dihedral BLOB, md5 BLOB, sha1 BLOB,
             sha256 BLOB, vpdq TEXT);
         CREATE TABLE submitted (path TEXT NOT NULL, server TEXT NOT NULL, size INTEGER NOT NULL,
             mtime_ns INTEGER NOT NULL, case_id INTEGER NOT NULL, PRIMARY KEY (path, server));",
    )
    .unwrap();
    drop(conn);
    let out = spoor(&[
        "scan",
        dir.path().to_str().unwrap(),
        "--bank-file",
        list.to_str().unwrap(),
        "--cache",
        old.to_str().unwrap(),
        "--unframed",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(framed(&out), want);
}

/// `--dihedral=exact`: a lossless turn or mirror of a textured photo matches at distance 0,
/// naming the turn; the cache keeps which kind of turns it holds, so a scan asking for the other
/// kind hashes again. A bare `--dihedral` before the path still means the DCT's turns.
#[test]
fn exact_dihedral_finds_lossless_turns_at_distance_zero() {
    let dir = tempfile::tempdir().unwrap();
    let photo = image::open(testdata("reg-test-input/labelme-subset/q0003.jpg")).unwrap().to_rgb8();
    image::imageops::rotate90(&photo).save(dir.path().join("turned.png")).unwrap();
    image::imageops::flip_horizontal(&photo).save(dir.path().join("mirrored.png")).unwrap();
    let aux = tempfile::tempdir().unwrap();
    let hashed = spoor(&[
        "hash",
        "--dihedral=exact",
        "--format",
        "jsonl",
        testdata("reg-test-input/labelme-subset/q0003.jpg").to_str().unwrap(),
    ]);
    let rec: Value = serde_json::from_slice(&hashed.stdout).unwrap();
    let variants = rec["pdq_dihedral"].as_array().unwrap();
    assert_eq!((variants.len(), &variants[0]), (8, &rec["pdq"]), "{rec}");
    let list = aux.path().join("l.txt");
    std::fs::write(&list, format!("{}\n", rec["pdq"].as_str().unwrap())).unwrap();
    let cache = aux.path().join("scan.cache");
    let scan = |how: &str| {
        spoor(&[
            "scan",
            how,
            dir.path().to_str().unwrap(),
            "--bank-file",
            list.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ])
    };
    let summary = |out: &Output| String::from_utf8_lossy(&out.stderr).to_string();
    for (round, says) in [(0, "(2 hashed, 0 from the cache)"), (1, "(0 hashed, 2 from the cache)")]
    {
        let out = scan("--dihedral=exact");
        assert_eq!(out.status.code(), Some(1), "{}", summary(&out));
        assert!(summary(&out).contains(says), "round {round}: {}", summary(&out));
        let recs = records(&out);
        assert_eq!(recs.len(), 2, "{recs:?}");
        for r in &recs {
            let m = &r["matches"][0];
            assert_eq!(m["distance"], 0, "{r}");
            assert!(
                ["rot90", "rot270", "flipy"].contains(&m["transform"].as_str().unwrap()),
                "{r}"
            );
        }
    }
    // The DCT's turns: hashed again (the cache holds exact turns), then from the cache.
    let out = scan("--dihedral");
    assert!(summary(&out).contains("(2 hashed, 0 from the cache)"), "{}", summary(&out));
    let again = scan("--dihedral");
    assert!(summary(&again).contains("(0 hashed, 2 from the cache)"), "{}", summary(&again));
    assert_eq!(records(&out).len(), records(&again).len());
    let out = spoor(&["scan", "--dihedral=sideways", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dct, exact"), "{out:?}");
}
