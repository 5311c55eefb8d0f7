//! Video cases end to end (the real binary on 127.0.0.1, real ffmpeg): a submitted video is
//! hashed with vPDQ and matched against a banked video of the same scene in another encoding;
//! its case holds the video and its key frames sealed in the vault; a reviewer sees the grid of
//! key frames, grey and blurred, made by a service that cannot run ffmpeg (the console never
//! decodes a video); a reveal is recorded; after the decision and the grace period the video and
//! its frames are gone. A video that does not decode makes a case from its digests on a user's
//! flag, saying why; an oversize upload is refused.
//!
//! Only the benign sample videos of `../shared/testdata/video` are used.

use crate::server;
use crate::web;

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::blocking::multipart;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{Server, Store};

fn video(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/video").join(name)
}

/// The video's vPDQ in the bank text form, from `spoor hash`.
fn vpdq_text(path: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["hash", path.to_str().unwrap(), "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    let frames: Vec<String> = rec["vpdq"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{},{},{}", f["pdq"].as_str().unwrap(), f["quality"], f["timestamp"]))
        .collect();
    serde_json::to_string(&frames).unwrap()
}

fn submit(s: &Server, key: &str, bytes: &[u8], meta: &Value) -> (StatusCode, Value) {
    let form = multipart::Form::new()
        .text("meta", meta.to_string())
        .part("file", multipart::Part::bytes(bytes.to_vec()).file_name("upload"));
    let resp = s.http.post(s.url("/v1/cases")).bearer_auth(key).multipart(form).send().unwrap();
    let status = resp.status();
    (status, resp.json().unwrap_or(Value::Null))
}

/// Every file under `dir`, recursively, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The status of a `POST /v1/cases` of `n` bytes sent over a raw connection: the service
/// refuses an upload over its limit as soon as it passes it, which an HTTP client still
/// sending its body would report as a broken connection instead.
fn raw_case_upload(s: &Server, key: &str, n: usize) -> u16 {
    use std::io::{Read, Write};
    let addr = s.addr();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let boundary = "spoorboundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n"
    );
    let tail = format!(
        "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{}\r\n--{boundary}--\r\n",
        json!({"reason": "user_flag"})
    );
    let len = head.len() + n + tail.len();
    let req = format!(
        "POST /v1/cases HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    let _ = c.write_all(req.as_bytes());
    let _ = c.write_all(head.as_bytes());
    let mut body = std::fs::read(video("chair-22-sd-sepia-bar.mp4")).unwrap();
    body.resize(n, 0);
    let _ = c.write_all(&body);
    let _ = c.write_all(tail.as_bytes());
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

/// Whether any of 64 16-byte pieces spread through `plain` appears in `stored`.
fn holds_pieces_of(stored: &[u8], plain: &[u8]) -> bool {
    (0..64)
        .map(|i| &plain[i * (plain.len() - 16) / 63..][..16])
        .any(|piece| stored.windows(16).any(|w| w == piece))
}

/// The high-frequency energy of a grid of frames (`cols` × `rows` equal cells, 2 px apart) as
/// [`common::energy`] counts it, but only between neighbours of one cell: the edges of the
/// gaps between cells are not detail of the frames.
fn frames_energy(grey: &image::GrayImage, cols: u32, rows: u32) -> f64 {
    let (w, h) = grey.dimensions();
    let (cw, ch) = ((w - 2 * (cols - 1)) / cols, (h - 2 * (rows - 1)) / rows);
    assert_eq!((cols * cw + 2 * (cols - 1), rows * ch + 2 * (rows - 1)), (w, h), "{w}x{h}");
    let inside = |x: u32, y: u32| x < w && y < h && x % (cw + 2) < cw && y % (ch + 2) < ch;
    let (mut sum, mut n) = (0f64, 0f64);
    for y in 0..h {
        for x in 0..w {
            if !inside(x, y) {
                continue;
            }
            let p = f64::from(grey.get_pixel(x, y)[0]);
            for (nx, ny) in [(x + 1, y), (x, y + 1)] {
                if inside(nx, ny) {
                    sum += (p - f64::from(grey.get_pixel(nx, ny)[0])).powi(2);
                    n += 1.0;
                }
            }
        }
    }
    sum / n
}

#[test]
fn a_video_is_matched_held_and_reviewed_by_its_key_frames() {
    let store = Store::sqlite();
    let media_key = store.dir.path().join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", media_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let media_dir = store.dir.path().join("media");
    let admin = store.key("admin", "admin", None);
    let hoster = store.key("matcher", "hoster", None);
    let media_flags = [
        "--media-key-file",
        media_key.to_str().unwrap(),
        "--media-dir",
        media_dir.to_str().unwrap(),
        "--media-grace",
        "1s",
    ];
    let mut flags = media_flags.to_vec();
    flags.extend(["--max-upload", "4MiB"]);
    let s = Server::start(&store, &flags);

    // The bank holds the original encoding's vPDQ, as a verified baseline entry.
    let banked = vpdq_text(&video("chair-orig-22-sd-bar.mp4"));
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks", &json!({"name": "VIDEOS"}));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let entries = json!({"entries": [{"signal_type": "vpdq", "value": banked,
        "category": "baseline", "verified_by": "analyst-1"}]});
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks/VIDEOS/entries", &entries);
    assert_eq!(st, StatusCode::OK, "{v}");
    let entry = v["results"][0]["id"].as_i64().unwrap();
    server::until("the video entry is live", || {
        let r = s
            .http
            .get(s.url("/v1/match"))
            .bearer_auth(&admin)
            .query(&[("signal_type", "vpdq"), ("value", &banked)])
            .send()
            .unwrap();
        r.json::<Value>().unwrap()["matches"].as_array().is_some_and(|m| !m.is_empty())
    });

    // Another encoding of the same scene (sepia, so in colour): a video case with a vPDQ
    // match, queued for a person (vPDQ never confirms on its own), the video held.
    let sepia = std::fs::read(video("chair-22-sd-sepia-bar.mp4")).unwrap();
    let meta = json!({"reason": "match", "service": "clips", "content_ref": "clip-1"});
    let (st, v) = submit(&s, &hoster, &sepia, &meta);
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let case = &v["case"];
    let id = case["id"].as_i64().unwrap();
    assert_eq!(
        (case["media_kind"].as_str(), case["state"].as_str()),
        (Some("video"), Some("queued"))
    );
    assert_eq!(case["media_held"], true);
    assert_eq!(v.get("decode_error"), None, "{v}");
    let m = &case["matches"][0];
    assert_eq!((m["bank"].as_str(), m["entry_id"].as_i64()), (Some("VIDEOS"), Some(entry)));
    assert_eq!(m["signal_type"], "vpdq");
    assert_eq!(m.get("distance"), None, "a matcher key sees no distances");
    let (_, full) = s.get(Some(&admin), &format!("/v1/cases/{id}"));
    assert_eq!(
        full["matches"][0]["distance"], 0,
        "every frame of the video was found in the banked one: {full}"
    );
    assert!(full["signals"].as_array().unwrap().iter().any(|x| x["signal_type"] == "sha256"));
    // The video and its key frames, side by side, sealed: no piece of the video in clear.
    let held = files(&media_dir);
    assert_eq!(held.len(), 2, "{held:?}");
    let frames_file = held.iter().find(|p| p.to_str().unwrap().ends_with(".frames")).unwrap();
    let media_file = held.iter().find(|p| *p != frames_file).unwrap();
    assert_eq!(frames_file.to_str().unwrap(), format!("{}.frames", media_file.display()));
    let (stored_media, stored_frames) =
        (std::fs::read(media_file).unwrap(), std::fs::read(frames_file).unwrap());
    assert!(!holds_pieces_of(&stored_media, &sepia), "the video is sealed");
    assert!(!stored_frames.windows(8).any(|w| w == b"SPOORKF1"), "the frames are sealed");
    assert!(stored_frames.len() > 100_000, "frames of some size: {}", stored_frames.len());

    // A video cut short does not decode: on a user's flag it is still a case, from its
    // digests, saying why and what to do; without a flag and a match nothing is stored.
    let cut = &sepia[..sepia.len() / 3];
    let (st, v) = submit(&s, &hoster, cut, &json!({"reason": "match"}));
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["stored"], false);
    assert!(v["decode_error"].as_str().unwrap().contains("send the whole file"), "{v}");
    let (st, v) =
        submit(&s, &hoster, cut, &json!({"reason": "user_flag", "content_ref": "clip-2"}));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let flagged = &v["case"];
    assert_eq!(
        (flagged["media_kind"].as_str(), flagged["state"].as_str()),
        (Some("file"), Some("queued"))
    );
    assert!(flagged["matches"].as_array().unwrap().is_empty());
    let digests: Vec<&str> = flagged["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["signal_type"].as_str().unwrap())
        .collect();
    assert_eq!(digests, ["md5", "sha1", "sha256"]);
    let why = v["decode_error"].as_str().unwrap();
    assert!(
        why.contains("looks like a video but could not be hashed")
            && why.contains("decoding failed"),
        "{why}"
    );
    assert!(v["message"].as_str().unwrap().contains(why), "{v}");
    assert_eq!(files(&media_dir).len(), 3, "the flagged file is held, with no frames");
    // Over the upload limit: refused, nothing stored.
    assert_eq!(raw_case_upload(&s, &hoster, 5 << 20), 413);
    assert_eq!(files(&media_dir).len(), 3);
    s.stop();

    // The console of a service that cannot run ffmpeg at all still shows the video: by its
    // key frames, never by decoding it.
    let mut flags = media_flags.to_vec();
    flags.extend(["--ffmpeg", "/nonexistent/ffmpeg"]);
    let s = Server::start(&store, &flags);
    // Such a service hashes videos by their digests alone, and says what to do.
    let (st, v) = submit(&s, &hoster, &sepia, &json!({"reason": "match"}));
    assert_eq!((st, &v["stored"]), (StatusCode::OK, &json!(false)), "{v}");
    let why = v["decode_error"].as_str().unwrap();
    assert!(why.contains("install FFmpeg") && why.contains("--ffmpeg"), "{why}");
    let (mut w, csrf) = web::logged_in(&store, &s, "rosa", "reviewer");
    let a = w.post("/review/next", &[("queue", "main"), ("csrf", &csrf)]);
    assert_eq!(a.location(), format!("/cases/{id}"), "{}", a.body);
    let page = w.get(&format!("/cases/{id}")).body;
    assert!(page.contains("Key frames of the video"), "{page}");
    assert!(page.contains("100% of frames found"), "{page}");
    let (st, ctype, png) = w.get_bytes(&format!("/cases/{id}/rendition?v=4g"));
    assert_eq!((st, ctype.as_str()), (StatusCode::OK, "image/png"));
    let shown = image::load_from_memory(&png).unwrap();
    let (width, height) = (shown.width(), shown.height());
    // A grid of frames, each at most 320 px, the whole at most twice that (render_frames).
    assert!(width.max(height) <= 640 && width.min(height) > 100, "{width}x{height}");
    let rgb = shown.to_rgb8();
    assert!(rgb.pixels().all(|p| p[0] == p[1] && p[1] == p[2]), "greyscale: R = G = B");
    // 23 frames hashed (one a second): 16 shown, in 4 rows of 4.
    let blurred = frames_energy(&shown.to_luma8(), 4, 4);
    // Each reveal step is recorded; at the last the frames are shown without blur.
    for _ in 0..4 {
        let a = w.post(&format!("/cases/{id}/reveal"), &[("op", "less_blur"), ("csrf", &csrf)]);
        assert_eq!(a.status, StatusCode::SEE_OTHER);
    }
    let (st, _, sharp) = w.get_bytes(&format!("/cases/{id}/rendition?v=0g"));
    assert_eq!(st, StatusCode::OK);
    let sharp = image::load_from_memory(&sharp).unwrap();
    assert_eq!((sharp.width(), sharp.height()), (width, height));
    let unblurred = frames_energy(&sharp.to_luma8(), 4, 4);
    eprintln!("high-frequency energy: blurred {blurred:.1}, unblurred {unblurred:.1}");
    assert!(blurred < unblurred * 0.05, "blurred: {blurred} vs unblurred {unblurred}");
    let a = w.post(&format!("/cases/{id}/reveal"), &[("op", "colour"), ("csrf", &csrf)]);
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let (_, _, colour) = w.get_bytes(&format!("/cases/{id}/rendition?v=0c"));
    let colour = image::load_from_memory(&colour).unwrap().to_rgb8();
    assert!(colour.pixels().any(|p| p[0] != p[2]), "the sepia frames in colour");

    let audit = spoor_bank::open(&spoor_bank::Location::DataDir(store.value.clone().into()))
        .unwrap()
        .audit_records(&spoor_bank::AuditQuery::after(0, 10_000))
        .unwrap();
    let by_rosa = |action: &str| {
        audit
            .iter()
            .filter(|r| r.actor == "rosa" && r.action == action && r.object_id == id.to_string())
            .count()
    };
    assert_eq!(by_rosa("case_reveal"), 5, "four steps of blur and colour");
    assert_eq!(by_rosa("case_rendition"), 3);

    // Decided: after the grace period the video and its frames are gone; the flagged file,
    // still open, stays.
    let a = w.post(
        &format!("/cases/{id}/decide"),
        &[("verdict", "confirm"), ("category", "baseline"), ("csrf", &csrf)],
    );
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    server::until_within("the video and its frames are deleted", Duration::from_secs(10), || {
        s.get(Some(&admin), &format!("/v1/cases/{id}")).1["media_held"] == false
    });
    assert!(!media_file.exists() && !frames_file.exists());
    let left = files(&media_dir);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!left[0].to_str().unwrap().ends_with(".frames"));
    let (_, c) = s.get(Some(&admin), &format!("/v1/cases/{id}"));
    assert_eq!(c["state"], "confirmed");
    // The error rates of real decisions count vPDQ matches as a technology of their own.
    let metrics = s.http.get(s.url("/metrics")).send().unwrap().text().unwrap();
    let reviewed = metrics.lines().find(|l| {
        l.starts_with("spoor_case_outcomes{")
            && [
                "bank=\"VIDEOS\"",
                "signal_type=\"vpdq\"",
                "band=\"video\"",
                "outcome=\"confirmed_reviewed\"",
            ]
            .iter()
            .all(|p| l.contains(p))
    });
    assert!(reviewed.is_some_and(|l| l.ends_with(" 1")), "{metrics}");
    assert_eq!(
        w.get_bytes(&format!("/cases/{id}/rendition")).0,
        StatusCode::NOT_FOUND,
        "a decided case's frames are not shown"
    );
    s.stop();
}
