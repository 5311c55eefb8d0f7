//! `spoor hash` (and `spoor eval`, which hashes changed copies) end to end: the real binary on
//! real files.

use serde_json::Value;
use spoor_core::Hash256;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pdq")
}

fn spoor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spoor")).args(args).output().expect("run spoor")
}

fn jsonl(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad json line {l:?}: {e}")))
        .collect()
}

fn hash_of(v: &Value, key: &str) -> Hash256 {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).parse().unwrap()
}

/// Digests through coreutils, an implementation independent of ours.
fn coreutils_digests(bytes: &[u8]) -> (String, String, String) {
    let run = |tool: &str| -> String {
        let mut child = Command::new(tool)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        use std::io::Write;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
    };
    (run("md5sum"), run("sha1sum"), run("sha256sum"))
}

#[test]
fn hashes_a_jpeg_like_the_reference() {
    let path = testdata().join("bridge-mods/aaa-orig.jpg");
    let out = spoor(&["hash", "--format", "jsonl", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs = jsonl(&out);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r["width"], 1600);
    assert_eq!(r["height"], 1004);
    assert_eq!(r["quality"], 100);
    let want: Hash256 =
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22".parse().unwrap();
    assert!(hash_of(r, "pdq").distance(&want) <= 2);
    let (md5, sha1, sha256) = coreutils_digests(&std::fs::read(&path).unwrap());
    assert_eq!(r["md5"], md5);
    assert_eq!(r["sha1"], sha1);
    assert_eq!(r["sha256"], sha256);
    // Fields come in a fixed order.
    let line = String::from_utf8(out.stdout.clone()).unwrap();
    let at = |k: &str| line.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} missing"));
    let keys = ["path", "width", "height", "pdq", "quality", "md5", "sha1", "sha256"];
    assert!(keys.windows(2).all(|w| at(w[0]) < at(w[1])), "{line}");
    assert_eq!(r.as_object().unwrap().len(), keys.len());
}

#[test]
fn dihedral_variants_match_rotated_files() {
    let dih = testdata().join("reg-test-input/dih");
    let orig = dih.join("bridge-1-original.jpg");
    let out = spoor(&["hash", "--dihedral", "--format", "jsonl", orig.to_str().unwrap()]);
    assert!(out.status.success());
    let r = &jsonl(&out)[0];
    let variants: Vec<Hash256> = r["pdq_dihedral"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(variants.len(), 8);
    assert_eq!(variants[0], hash_of(r, "pdq"));
    let files = [
        "bridge-1-original.jpg",
        "bridge-2-rotate-90.jpg",
        "bridge-3-rotate-180.jpg",
        "bridge-4-rotate-270.jpg",
        "bridge-5-flipx.jpg",
        "bridge-6-flipy.jpg",
        "bridge-7-flip-plus-1.jpg",
        "bridge-8-flip-minus-1.jpg",
    ];
    let paths: Vec<String> =
        files.iter().map(|f| dih.join(f).to_str().unwrap().to_string()).collect();
    let mut args = vec!["hash", "--format", "jsonl"];
    args.extend(paths.iter().map(|s| s.as_str()));
    let out = spoor(&args);
    for (i, rec) in jsonl(&out).iter().enumerate() {
        let d = hash_of(rec, "pdq").distance(&variants[i]);
        assert!(d <= 16, "{}: variant {i} is {d} bits from the rotated file's hash", files[i]);
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut h = crc32fast::Hasher::new();
    h.update(kind);
    h.update(data);
    c.extend_from_slice(&h.finalize().to_be_bytes());
    c
}

/// A valid PNG header declaring `w`×`h` pixels, followed by almost no data.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    v.extend(png_chunk(b"IHDR", &ihdr));
    v.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    v.extend(png_chunk(b"IEND", &[]));
    v
}

/// The test JPEG with its frame header patched to declare `w`×`h`, cut after the headers.
fn jpeg_bomb(w: u16, h: u16) -> Vec<u8> {
    let mut bytes = std::fs::read(testdata().join("bridge-mods/aaa-orig.jpg")).unwrap();
    let sof =
        bytes.windows(2).position(|p| p == [0xFF, 0xC0] || p == [0xFF, 0xC2]).expect("SOF marker");
    bytes[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    let sos = bytes.windows(2).position(|p| p == [0xFF, 0xDA]).expect("SOS marker");
    bytes.truncate(sos + 200);
    bytes
}

#[test]
fn bad_inputs_give_error_records_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jpeg = std::fs::read(testdata().join("bridge-mods/aaa-orig.jpg")).unwrap();
    let png = std::fs::read(testdata().join("misc-images/c.png")).unwrap();
    let mut noise = vec![0u8; 100_000];
    let mut s = 0x2545F4914F6CDD1Du64;
    for b in noise.iter_mut() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        *b = s as u8;
    }
    let files = vec![
        (write(d, "a-empty.jpg", b""), Some("empty file")),
        (write(d, "b-truncated.jpg", &jpeg[..jpeg.len() / 2]), Some("JPEG")),
        (write(d, "c-random.png", &noise), Some("not a supported image")),
        (write(d, "d-png-named.jpg", &png), None),
        (write(d, "e-bomb.png", &png_bomb(60000, 60000)), Some("60000x60000")),
        (write(d, "f-bomb.jpg", &jpeg_bomb(60000, 60000)), Some("60000x60000")),
        (write(d, "g-doc.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"), Some("PDF")),
        (write(d, "h-truncated.png", &png[..png.len() / 3]), Some("PNG")),
        (write(d, "i-zero-size.png", &png_bomb(0, 10)), Some("PNG")),
    ];
    let out = spoor(&["hash", "--format", "jsonl", d.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let recs = jsonl(&out);
    assert_eq!(recs.len(), files.len());
    for (rec, (path, err)) in recs.iter().zip(&files) {
        assert_eq!(rec["path"].as_str().unwrap(), path);
        match err {
            None => assert!(rec["pdq"].is_string(), "{rec}"),
            Some(msg) => {
                let e =
                    rec["error"].as_str().unwrap_or_else(|| panic!("no error for {path}: {rec}"));
                assert!(e.contains(msg), "{path}: {e:?} lacks {msg:?}");
                assert_eq!(rec.as_object().unwrap().len(), 2, "{rec}");
            }
        }
    }
    // The over-limit images are refused from their header, with advice.
    let bomb = recs[4]["error"].as_str().unwrap();
    assert!(bomb.contains("--max-pixels"), "{bomb}");
}

#[test]
fn output_order_is_input_order_whatever_the_threads() {
    let dir = testdata();
    let a = spoor(&["hash", "--format", "jsonl", "-j", "1", dir.to_str().unwrap()]);
    let b = spoor(&["hash", "--format", "jsonl", "-j", "4", dir.to_str().unwrap()]);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.status.code(), b.status.code());
    let recs = jsonl(&a);
    assert!(recs.len() > 100);
    let paths: Vec<&str> = recs.iter().map(|r| r["path"].as_str().unwrap()).collect();
    let mut sorted = paths.clone();
    sorted.sort_by(|a, b| Path::new(a).components().cmp(Path::new(b).components()));
    assert!(paths == sorted, "directory walk is not sorted by name");
}

#[test]
fn stdin_and_signal_selection() {
    let path = testdata().join("misc-images/wee.jpg");
    let bytes = std::fs::read(&path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["hash", "--format", "jsonl", "--signals", "pdq,sha256", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let r = &jsonl(&out)[0];
    assert_eq!(r["path"], "-");
    assert!(r["pdq"].is_string() && r["sha256"].is_string());
    assert!(r.get("md5").is_none() && r.get("sha1").is_none());

    // Without pdq, any file is digested.
    let text = testdata().join("misc-images/modes/README.md");
    let out = spoor(&["hash", "--format", "jsonl", "--signals", "md5", text.to_str().unwrap()]);
    assert!(out.status.success());
    let r = &jsonl(&out)[0];
    assert!(r["md5"].is_string() && r.get("pdq").is_none() && r.get("error").is_none());
}

#[test]
fn text_output_and_usage_errors() {
    let path = testdata().join("misc-images/wee.jpg");
    let out = spoor(&["hash", "--format", "text", path.to_str().unwrap(), "/no/such/file"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.ends_with("wee.jpg\n"));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("/no/such/file: no such file or directory"), "{stderr}");

    let out = spoor(&["hash", "--signals", "md5", "--dihedral", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dihedral needs the pdq signal"));
    let out = spoor(&["hash", "--signals", "crc32", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let out = spoor(&["hash", "--max-pixels", "1000", path.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(jsonl(&out)[0]["error"].as_str().unwrap().contains("over the limit"));
}

#[test]
fn exif_orientation_is_ignored_by_default_and_applied_on_request() {
    // Turning the pixels as the EXIF tag says must give the hash of the matching dihedral
    // variant: tag 3 turns 180°, tag 6 turns 90° clockwise (the reference's "rot270"), tag 8
    // turns 90° counter-clockwise (the reference's "rot90").
    for (tag, variant) in [(3, 2), (6, 3), (8, 1)] {
        let f = testdata().join(format!("reg-test-input/exif-rotn/exif-rotn-{tag}.jpg"));
        let f = f.to_str().unwrap();
        let plain = &jsonl(&spoor(&["hash", "--format", "jsonl", "--dihedral", f]))[0];
        let turned = &jsonl(&spoor(&["hash", "--format", "jsonl", "--exif-orient", f]))[0];
        assert_eq!((plain["width"].as_u64(), plain["height"].as_u64()), (Some(4032), Some(3024)));
        if tag != 3 {
            assert_eq!(turned["width"], 3024, "tag {tag}");
            assert_eq!(turned["height"], 4032, "tag {tag}");
        }
        let want: Hash256 = plain["pdq_dihedral"][variant].as_str().unwrap().parse().unwrap();
        let d = hash_of(turned, "pdq").distance(&want);
        assert!(d <= 4, "tag {tag}: {d} bits from dihedral variant {variant}");
        assert!(hash_of(turned, "pdq").distance(&hash_of(plain, "pdq")) > 64, "tag {tag}");
    }
}

#[test]
fn files_over_the_size_limit_are_refused_from_disk_and_stdin() {
    let path = testdata().join("misc-images/wee.jpg");
    let size = std::fs::metadata(&path).unwrap().len();
    let limit = (size - 1).to_string();
    let out =
        spoor(&["hash", "--format", "jsonl", "--max-file-size", &limit, path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let e = jsonl(&out)[0]["error"].as_str().unwrap().to_string();
    assert!(e.contains(&format!("file is {size} bytes")) && e.contains("--max-file-size"), "{e}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["hash", "--format", "jsonl", "--max-file-size", &limit, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&std::fs::read(&path).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = jsonl(&out)[0]["error"].as_str().unwrap().to_string();
    // Standard input is cut at the limit plus one byte: the size reported is what was read.
    assert!(e.contains("over the limit") && e.contains("--max-file-size"), "{e}");
}

#[test]
fn eval_counts_recall_and_false_matches_and_keeps_copies_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("copies");
    let records = dir.path().join("eval.jsonl");
    let photo = testdata().join("bridge-mods/aaa-orig.jpg");
    let other = testdata().join("reg-test-input/pen-and-coaster.png");
    let not_picture = testdata().join("reg-test-input/needles.txt");
    let args = [
        "eval",
        photo.to_str().unwrap(),
        other.to_str().unwrap(),
        not_picture.to_str().unwrap(),
        "--changes",
        "rotate_90,jpeg_q70,mirror",
        "--generated",
        "6",
        "--radius",
        "31,8",
        "-j",
        "2",
        "--jsonl",
        records.to_str().unwrap(),
        "--write",
        out_dir.to_str().unwrap(),
    ];
    let out = spoor(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("2 pictures changed 3 ways each and 8 originals compared"), "{table}");
    assert!(table.contains("1 files neither pictures nor videos"), "{table}");
    let lines: Vec<Value> = std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kind = |k: &'static str| lines.iter().filter(move |v| v["kind"] == k);
    assert_eq!(kind("run").count(), 1);
    assert_eq!(kind("original").count(), 8);
    assert_eq!(kind("copy").count(), 6, "3 copies of each given picture, none of generated ones");
    // Each recall figure is the count of copy records within the radius, recomputed here.
    for r in kind("recall") {
        let (change, tech) = (r["change"].as_str().unwrap(), r["technology"].as_str().unwrap());
        let field = match tech {
            "pdq" => "distance",
            "pdq_dihedral" => "distance_dihedral",
            "pdq_dihedral_exact" => "distance_dihedral_exact",
            _ => continue,
        };
        let radius = r["radius"].as_u64().unwrap();
        let expect = kind("copy")
            .filter(|c| c["change"] == change && c[field].as_u64().unwrap() <= radius)
            .count() as u64;
        assert_eq!(r["recall"]["count"].as_u64().unwrap(), expect, "{r}");
        assert_eq!(r["recall"]["of"], 2);
    }
    let exact_turns = kind("recall")
        .filter(|r| r["technology"] == "pdq_dihedral_exact" && r["change"] != "jpeg_q70")
        .all(|r| r["recall"]["count"] == 2);
    assert!(exact_turns, "lossless turns are found at distance 0 by exact dihedral matching");
    let pairs = kind("false_matches").next().unwrap();
    assert_eq!(pairs["rate"]["of"], 8 * 7 / 2);
    // The copies on disk are what was hashed: spoor hash gives the recorded PDQ for each.
    let manifest = std::fs::read_to_string(out_dir.join("manifest.tsv")).unwrap();
    assert_eq!(manifest.lines().count(), 1 + 8, "{manifest}");
    let first = out_dir.join("00000");
    assert_eq!(std::fs::read(first.join("original.jpg")).unwrap(), std::fs::read(&photo).unwrap());
    let rehash = spoor(&["hash", "--signals", "pdq", first.join("jpeg_q70.jpg").to_str().unwrap()]);
    let recorded = kind("copy")
        .find(|c| c["change"] == "jpeg_q70" && c["original"] == photo.to_str().unwrap())
        .unwrap();
    assert_eq!(jsonl(&rehash)[0]["pdq"], recorded["pdq"]);
    assert!(first.join("rotate_90.png").is_file() && first.join("mirror.png").is_file());

    // The same run again gives the same records, whatever the thread count.
    let again = dir.path().join("again.jsonl");
    let mut args2: Vec<&str> = args[..args.len() - 4].to_vec();
    args2.retain(|a| *a != "-j" && *a != "2");
    args2.extend(["-j", "1", "--jsonl", again.to_str().unwrap()]);
    assert!(spoor(&args2).status.success());
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&records).unwrap());

    // Bad requests are refused with what to do.
    let fails = |a: &[&str], want: &str| {
        let out = spoor(a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{a:?}: {err}");
        assert!(err.contains(want), "{a:?}: {err}");
    };
    fails(&["eval", photo.to_str().unwrap(), "--changes", "blur"], "unknown change \"blur\"");
    fails(&["eval"], "nothing to evaluate");
    fails(&["eval", photo.to_str().unwrap(), "--write", out_dir.to_str().unwrap()], "not empty");
    fails(&["eval", photo.to_str().unwrap(), "--changes", "mirror"], "at least 2 are needed");
}

#[test]
fn eval_measures_videos_with_vpdq() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("copies");
    let records = dir.path().join("eval.jsonl");
    let video = testdata().join("../video/doorknob-hd-no-bar.mp4");
    let photo = testdata().join("bridge-mods/aaa-orig.jpg");
    let args = [
        "eval",
        video.to_str().unwrap(),
        photo.to_str().unwrap(),
        "--changes",
        "mirror",
        "--generated",
        "2",
        "--video-changes",
        "h264_crf40,cut_middle,mirror",
        "--generated-videos",
        "2",
        "-j",
        "2",
        "--jsonl",
        records.to_str().unwrap(),
        "--write",
        out_dir.to_str().unwrap(),
    ];
    let out = spoor(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("1 pictures changed 1 ways each and 3 originals compared"), "{table}");
    assert!(table.contains("1 videos changed 3 ways each and 3 videos compared"), "{table}");
    let lines: Vec<Value> = std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kind = |k: &'static str| lines.iter().filter(move |v| v["kind"] == k);
    let run = kind("run").next().unwrap();
    assert_eq!(
        (run["videos"]["originals"].as_u64(), run["videos"]["compared"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(!run["videos"]["ffmpeg"].as_str().unwrap().is_empty(), "{run}");
    assert_eq!(kind("video").count(), 3);
    let copies: Vec<&Value> = kind("video_copy").collect();
    assert_eq!(copies.len(), 3);
    // Each vPDQ recall figure is the count of copy records that match at its radius.
    let video_recall: Vec<&Value> = kind("recall").filter(|r| r["medium"] == "video").collect();
    assert_eq!(video_recall.len(), 3 * 3, "vpdq, md5 and sha256 for each change");
    for r in &video_recall {
        let change = r["change"].as_str().unwrap();
        let c = copies.iter().find(|c| c["change"] == change).unwrap();
        let expect = match r["technology"].as_str().unwrap() {
            "vpdq" => u64::from(c["shares"][0]["matched"].as_bool().unwrap()),
            _ => 0,
        };
        assert_eq!(r["recall"]["count"].as_u64(), Some(expect), "{r}");
        assert_eq!(r["recall"]["of"], 1);
    }
    let found = |change: &str| {
        video_recall.iter().find(|r| r["change"] == change && r["technology"] == "vpdq").unwrap()
            ["recall"]["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!((found("h264_crf40"), found("cut_middle"), found("mirror")), (1, 1, 0));
    let fm = |t: &str| {
        kind("false_matches").find(|f| f["medium"] == "video" && f["technology"] == t).unwrap()
    };
    assert_eq!(fm("vpdq")["rate"]["of"], 3);
    assert_eq!(fm("vpdq")["rate"]["count"], 0);
    let good: Vec<u64> = kind("video").map(|v| v["good"].as_u64().unwrap()).collect();
    assert_eq!(
        fm("vpdq_frame")["rate"]["of"].as_u64().unwrap(),
        good[0] * good[1] + good[0] * good[2] + good[1] * good[2]
    );
    // The kept copies are the files that were hashed: spoor hash gives the same frames.
    let kept = PathBuf::from(copies[0]["kept"].as_str().unwrap());
    assert!(kept.starts_with(out_dir.join("videos")), "{}", kept.display());
    let rehash = spoor(&["hash", "--format", "jsonl", kept.to_str().unwrap()]);
    assert!(rehash.status.success(), "{}", String::from_utf8_lossy(&rehash.stderr));
    let frames = jsonl(&rehash)[0]["vpdq"].as_array().unwrap().len() as u64;
    assert_eq!(frames, copies[0]["hashed"].as_u64().unwrap());
    let manifest = std::fs::read_to_string(out_dir.join("manifest.tsv")).unwrap();
    assert!(manifest.contains(&format!("videos/00000\t{}", video.display())), "{manifest}");

    // Bad requests are refused with what to do; a video that cannot be hashed is said so.
    let fails = |a: &[&str], want: &str| {
        let out = spoor(a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{a:?}: {err}");
        assert!(err.contains(want), "{a:?}: {err}");
    };
    let v = video.to_str().unwrap();
    fails(&["eval", v, "--video-changes", "jpeg_q30"], "JPEG changes are for pictures");
    fails(&["eval", v, "--video-changes", "fps_0"], "from 1 to 240");
    fails(&["eval", v, "--video-match", "120"], "not a percentage");
    fails(&["eval", v, "--ffmpeg", "/nonexistent/ffmpeg"], "install FFmpeg");
}
