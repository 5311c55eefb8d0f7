//! `spoor scan --server … --submit` end to end: the real binary scanning a directory of generated
//! pictures through a real service on 127.0.0.1, making cases for exactly the files that
//! matched; refusals reported per file; passing failures (503, 429, a dropped connection)
//! retried through a small proxy that fails the first requests it is given.

use crate::common;
use crate::server;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{distance, flip, picture};
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{Server, Store};

fn scan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spoor")).arg("scan").args(args).output().unwrap()
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn record<'a>(recs: &'a [Value], name: &str) -> &'a Value {
    recs.iter()
        .find(|r| r["path"].as_str().is_some_and(|p| p.ends_with(name)))
        .unwrap_or_else(|| panic!("no record of {name}: {recs:?}"))
}

/// A service with a media key and a bank `HOTLINE` holding, verified and classed baseline, the
/// MD5 of `known` (exact: auto-confirmed) and the PDQ of `queued` with 20 bits flipped (a match
/// that goes to the review queue).
struct Setup {
    store: Store,
    server: Server,
    admin: String,
    scanner: String,
    known: Vec<u8>,
    queued: Vec<u8>,
    fresh: Vec<u8>,
}

fn setup(extra: &[&str]) -> Setup {
    let store = Store::sqlite();
    let media_key = store.dir.path().join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", media_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = store.key("admin", "admin", None);
    let scanner = store.key("matcher", "scanner", None);
    let media_dir = store.dir.path().join("media");
    let mut args = vec![
        "--media-key-file",
        media_key.to_str().unwrap(),
        "--media-dir",
        media_dir.to_str().unwrap(),
    ];
    args.extend(extra);
    let server = Server::start(&store, &args);
    let (known, queued, fresh) = (picture(11, 0), picture(12, 0), picture(13, 0));
    // Hashed here (`spoor hash`): the service may take only tiny uploads.
    let hash = |b: &[u8]| {
        let f = store.dir.path().join("to-hash");
        std::fs::write(&f, b).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_spoor"))
            .args(["hash", "--format", "jsonl", f.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let (hk, hq, hf) = (hash(&known), hash(&queued), hash(&fresh));
    let pdq_q = hq["pdq"].as_str().unwrap();
    for other in [&hk, &hf] {
        assert!(distance(other["pdq"].as_str().unwrap(), pdq_q) > 60, "pictures differ");
    }
    let (st, v) = server.send("POST", Some(&admin), "/v1/banks", &json!({"name": "HOTLINE"}));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let entries = json!({"entries": [
        {"signal_type": "md5", "value": hk["md5"], "category": "baseline",
         "verified_by": "analyst-1", "verified_at": "2026-11-01T00:00:00Z"},
        {"signal_type": "pdq", "value": flip(pdq_q, 20), "category": "baseline",
         "verified_by": "analyst-1", "verified_at": "2026-11-01T00:00:00Z"},
    ]});
    let (st, v) = server.send("POST", Some(&admin), "/v1/banks/HOTLINE/entries", &entries);
    assert_eq!(st, StatusCode::OK, "{v}");
    server::until("entries live", || !server.matches(&admin, &flip(pdq_q, 20)).is_empty());
    Setup { store, server, admin, scanner, known, queued, fresh }
}

/// The scanned directory: the three pictures and a text file.
fn tree(s: &Setup) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub dir")).unwrap();
    std::fs::write(dir.path().join("known.png"), &s.known).unwrap();
    std::fs::write(dir.path().join("sub dir/queued.png"), &s.queued).unwrap();
    std::fs::write(dir.path().join("fresh.png"), &s.fresh).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "nothing to see").unwrap();
    dir
}

fn cases(s: &Setup) -> Vec<Value> {
    let (st, v) = s.server.get(Some(&s.admin), "/v1/cases?limit=500");
    assert_eq!(st, StatusCode::OK, "{v}");
    v["cases"].as_array().unwrap().clone()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn submit_makes_cases_for_the_matching_files_only() {
    let s = setup(&[]);
    let t = tree(&s);
    let root = t.path().to_str().unwrap();
    // A second copy of the picture that goes to review: never a second case for it.
    std::fs::write(t.path().join("sub dir/queued copy.png"), &s.queued).unwrap();
    let cache = s.store.dir.path().join("scan.cache");
    let args = [
        root,
        "--server",
        &s.server.base,
        "--key",
        &s.scanner,
        "--submit",
        "--service",
        "photos",
        "--all",
        "-j",
        "2",
        "--cache",
        cache.to_str().unwrap(),
    ];
    let out = scan(&args);
    assert_eq!(out.status.code(), Some(1), "matched, nothing failed: {}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 4, "{recs:?}");
    let known = record(&recs, "/known.png");
    assert_eq!(known["case"]["state"], "confirmed", "{known}");
    assert_eq!(known["case"]["resolution"], "auto", "{known}");
    // Of the two copies, one made the case and the other names it, unsent.
    let (mut queued, mut copy) = (record(&recs, "/queued.png"), record(&recs, "/queued copy.png"));
    if queued["case"].get("same_content_as").is_some() {
        std::mem::swap(&mut queued, &mut copy);
    }
    assert_eq!(queued["case"]["state"], "queued", "{queued}");
    assert_eq!(queued["case"].get("resolution"), None, "{queued}");
    assert_eq!(copy["case"]["id"], queued["case"]["id"], "{copy}");
    assert_eq!(copy["case"]["same_content_as"], queued["path"], "{copy}");
    let fresh = record(&recs, "/fresh.png");
    assert_eq!(fresh["matches"], json!([]));
    for field in ["case", "case_error", "case_not_stored"] {
        assert_eq!(fresh.get(field), None, "a file that matched nothing is never sent: {fresh}");
    }
    let err = stderr(&out);
    assert!(
        err.contains(
            "cases: 2 made (1 queued for review, 1 auto-confirmed as known material, 0 decided \
             before), 0 submitted by an earlier scan (not sent again), 1 with the same content \
             as a file whose case is open (not sent), 0 not stored by the service, 0 failed"
        ),
        "{err}"
    );

    // On the service: exactly these two cases, with the files' paths and the service's name.
    let made = cases(&s);
    assert_eq!(made.len(), 2, "{made:?}");
    let abs = |rel: &str| std::fs::canonicalize(t.path()).unwrap().join(rel);
    let queued_rel = if queued["path"].as_str().unwrap().ends_with("copy.png") {
        "sub dir/queued copy.png"
    } else {
        "sub dir/queued.png"
    };
    for (rec, rel) in [(known, "known.png"), (queued, queued_rel)] {
        let id = rec["case"]["id"].as_i64().unwrap();
        let c = made.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("case {id}"));
        assert_eq!(c["state"], rec["case"]["state"]);
        assert_eq!(c["meta"]["reason"], "match");
        assert_eq!(c["meta"]["service"], "photos");
        assert_eq!(c["submitter"], "key:scanner");
        let content_ref = PathBuf::from(c["meta"]["content_ref"].as_str().unwrap());
        assert_eq!(std::fs::canonicalize(&content_ref).unwrap(), abs(rel));
        let sha = c["signals"].as_array().unwrap().iter().find(|x| x["signal_type"] == "sha256");
        assert_eq!(sha.unwrap()["value"], rec["sha256"], "the bytes sent are the file's");
    }
    let queued_case = made.iter().find(|c| c["id"] == queued["case"]["id"]).unwrap();
    assert_eq!(queued_case["media_held"], true, "the queued file's bytes were sent");

    // The same scan again, with its cache: no file is sent again, no case is made; each
    // record names the case made before, in its state now.
    let again = scan(&args);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    let recs2 = records(&again);
    for name in ["/known.png", "/queued.png", "/queued copy.png"] {
        let (before, now) = (record(&recs, name), record(&recs2, name));
        assert_eq!(now["case"]["id"], before["case"]["id"], "{now}");
        assert_eq!(now["case"]["state"], before["case"]["state"], "{now}");
    }
    assert_eq!(cases(&s).len(), 2, "a re-run makes no case");
    let err = stderr(&again);
    assert!(err.contains("0 made"), "{err}");
    // The copies: one looked up, the other waiting for it and then naming it.
    assert!(err.contains("2 submitted by an earlier scan"), "{err}");
    assert!(err.contains("1 with the same content"), "{err}");
    // A file written since (here the same bytes again) is sent again.
    std::fs::write(t.path().join("known.png"), &s.known).unwrap();
    let filetime = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(t.path().join("known.png"))
        .unwrap()
        .set_modified(filetime)
        .unwrap();
    let third = scan(&args);
    let known3 = record(&records(&third), "/known.png").clone();
    assert_eq!(known3["case"].get("submitted_before"), None, "{known3}");
    assert_eq!(
        (known3["case"]["resolution"].as_str(), &known3["case"]["earlier_case"]),
        (Some("earlier"), &known["case"]["id"]),
        "the same content takes the decision made before: {known3}"
    );
    assert_eq!(cases(&s).len(), 3);

    // Text output names the cases too; a content_ref prefix replaces the root.
    let t = tree(&s);
    let root = t.path().to_str().unwrap();
    let out = scan(&[
        root,
        "--server",
        &s.server.base,
        "--key",
        &s.scanner,
        "--submit",
        "--content-ref-prefix",
        "https://cdn.example/",
        "--format",
        "text",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let case_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("CASE ")).collect();
    assert_eq!(case_lines.len(), 2, "{text}");
    let refs: Vec<String> = cases(&s)
        .iter()
        .filter_map(|c| c["meta"]["content_ref"].as_str())
        .filter(|r| r.starts_with("https://"))
        .map(str::to_string)
        .collect();
    let mut refs = refs;
    refs.sort();
    assert_eq!(refs, ["https://cdn.example/known.png", "https://cdn.example/sub%20dir/queued.png"]);
    assert!(!text.contains("fresh.png"), "{text}");
    s.server.stop();
}

/// A refusal (here 413: the service takes smaller uploads than these files) is final: each
/// matching file's record says why, the scan goes on, and the exit status is 2.
#[test]
fn refused_submissions_are_reported_per_file_and_fail_the_scan() {
    let s = setup(&["--max-upload", "100"]);
    let t = tree(&s);
    let out = scan(&[
        t.path().to_str().unwrap(),
        "--server",
        &s.server.base,
        "--key",
        &s.scanner,
        "--submit",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 2, "only the matching files: {recs:?}");
    for r in &recs {
        let e = r["case_error"].as_str().unwrap_or_else(|| panic!("{r}"));
        assert!(e.starts_with("413"), "{e}");
        assert!(e.contains("--max-upload"), "{e}");
        assert!(!r["matches"].as_array().unwrap().is_empty(), "{r}");
    }
    let err = stderr(&out);
    assert!(err.contains("2 failed"), "{err}");
    assert!(err.contains("3 media"), "the scan went on: {err}");
    assert!(cases(&s).is_empty());
    s.server.stop();
}

/// A picture that matches only when turned (`--dihedral`) is not sent: the case intake
/// matches the file as it is, so its bytes would leave for nothing.
#[test]
fn pictures_matching_only_when_turned_are_not_sent() {
    let s = setup(&[]);
    // The PDQ of the fresh picture turned by 90° banked: the picture matches only as turned.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("fresh.png");
    std::fs::write(&f, &s.fresh).unwrap();
    let h = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["hash", "--format", "jsonl", "--dihedral", f.to_str().unwrap()])
        .output()
        .unwrap();
    let h: Value = serde_json::from_slice(&h.stdout).unwrap();
    let turned = h["pdq_dihedral"][1].as_str().unwrap().to_string();
    assert!(distance(&turned, h["pdq"].as_str().unwrap()) > 31, "{h}");
    let entry = json!({"entries": [{"signal_type": "pdq", "value": turned}]});
    let (st, v) = s.server.send("POST", Some(&s.admin), "/v1/banks/HOTLINE/entries", &entry);
    assert_eq!(st, StatusCode::OK, "{v}");
    server::until("entry live", || !s.server.matches(&s.admin, &turned).is_empty());
    let out = scan(&[
        dir.path().to_str().unwrap(),
        "--server",
        &s.server.base,
        "--key",
        &s.scanner,
        "--submit",
        "--dihedral",
    ]);
    assert_eq!(out.status.code(), Some(1), "matched, nothing failed: {}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["matches"][0]["transform"], "rot90", "{}", recs[0]);
    let why = recs[0]["case_not_stored"].as_str().unwrap_or_else(|| panic!("{}", recs[0]));
    assert!(why.starts_with("not sent") && why.contains("--dihedral"), "{why}");
    assert!(cases(&s).is_empty());
    assert!(stderr(&out).contains("1 not stored"), "{}", stderr(&out));
    s.server.stop();
}

/// A video that matched a banked video by vPDQ is sent, and the case intake matches it the
/// same way: a `video` case with a `vpdq` match, waiting for review.
#[test]
fn videos_matching_by_vpdq_are_sent() {
    let s = setup(&[]);
    let videos = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/video");
    let h = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["hash", "--format", "jsonl"])
        .arg(videos.join("chair-orig-22-sd-bar.mp4"))
        .output()
        .unwrap();
    assert!(h.status.success(), "{}", stderr(&h));
    let h: Value = serde_json::from_slice(&h.stdout).unwrap();
    let frames: Vec<String> = h["vpdq"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{},{},{}", f["pdq"].as_str().unwrap(), f["quality"], f["timestamp"]))
        .collect();
    let value = serde_json::to_string(&frames).unwrap();
    let entry = json!({"entries": [{"signal_type": "vpdq", "value": value}]});
    let (st, v) = s.server.send("POST", Some(&s.admin), "/v1/banks/HOTLINE/entries", &entry);
    assert_eq!(st, StatusCode::OK, "{v}");
    let id = v["results"][0]["id"].as_i64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(videos.join("chair-22-sd-sepia-bar.mp4"), dir.path().join("clip.mp4")).unwrap();
    let args = [dir.path().to_str().unwrap(), "--server", &s.server.base, "--key", &s.scanner];
    server::until("entry live", || {
        records(&scan(&args))[0]["matches"].as_array().is_some_and(|m| !m.is_empty())
    });
    let mut with_submit = args.to_vec();
    with_submit.push("--submit");
    let out = scan(&with_submit);
    assert_eq!(out.status.code(), Some(1), "matched, nothing failed: {}", stderr(&out));
    let recs = records(&out);
    assert!(recs[0]["case"]["id"].as_i64().is_some(), "{}", recs[0]);
    let all = cases(&s);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (all[0]["media_kind"].as_str(), all[0]["state"].as_str()),
        (Some("video"), Some("queued"))
    );
    assert_eq!(all[0]["matches"][0]["signal_type"], "vpdq");
    assert_eq!(all[0]["matches"][0]["entry_id"], id);
    s.server.stop();
}

/// How the proxy answers the n-th request for `/v1/cases`.
#[derive(Clone, Copy)]
enum Fail {
    /// This status, with `Retry-After` when given.
    Status(u16, Option<u64>),
    /// Closes the connection without answering (a service going down).
    Drop,
}

/// Forwards requests to `backend`, one a connection, except the first `fails.len()` requests
/// for `/v1/cases`, which fail as listed (and then every one, when `always`).
struct Proxy {
    base: String,
    case_requests: Arc<AtomicUsize>,
}

fn proxy(backend: &str, fails: Vec<Fail>, always: Option<Fail>) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let case_requests = Arc::new(AtomicUsize::new(0));
    let (seen, backend) = (case_requests.clone(), backend.to_string());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (seen, backend, fails) = (seen.clone(), backend.clone(), fails.clone());
            std::thread::spawn(move || {
                let _ = handle(conn, &backend, &seen, &fails, always);
            });
        }
    });
    Proxy { base, case_requests }
}

fn handle(
    mut conn: TcpStream,
    backend: &str,
    seen: &AtomicUsize,
    fails: &[Fail],
    always: Option<Fail>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if head.starts_with("POST /v1/cases ") {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        if let Some(fail) = fails.get(n).copied().or(always) {
            match fail {
                Fail::Drop => {}
                Fail::Status(code, retry_after) => {
                    let body = r#"{"error":{"code":"unavailable","message":"try later"}}"#;
                    let retry = retry_after.map(|s| format!("Retry-After: {s}\r\n"));
                    write!(
                        conn,
                        "HTTP/1.1 {code} Failing\r\nContent-Type: application/json\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        retry.unwrap_or_default(),
                        body.len()
                    )?;
                }
            }
            return Ok(());
        }
    }
    // One request a connection: forward it with `Connection: close`, copy the answer back.
    let mut upstream = TcpStream::connect(backend.trim_start_matches("http://"))?;
    let mut new_head: String = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    new_head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(new_head.as_bytes())?;
    upstream.write_all(&buf[head_end..])?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;
    conn.write_all(&answer)?;
    Ok(())
}

/// 503 with Retry-After, a dropped connection and 429 before the service answers: each
/// submission is retried and the cases are made, once each.
#[test]
fn passing_failures_are_retried_until_the_cases_are_made() {
    let s = setup(&[]);
    let t = tree(&s);
    let fails = vec![
        Fail::Status(502, None),
        Fail::Drop,
        Fail::Status(429, Some(0)),
        Fail::Status(503, Some(1)),
    ];
    let p = proxy(&s.server.base, fails, None);
    let out = scan(&[
        t.path().to_str().unwrap(),
        "--server",
        &p.base,
        "--key",
        &s.scanner,
        "--submit",
        "--submit-concurrency",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 2, "{recs:?}");
    for r in &recs {
        assert!(r["case"]["id"].as_i64().is_some(), "{r}");
    }
    assert_eq!(p.case_requests.load(Ordering::SeqCst), 6, "4 failures, then 2 cases");
    assert_eq!(cases(&s).len(), 2);
    assert!(stderr(&out).contains("2 made"), "{}", stderr(&out));

    // A service that keeps failing: given up after the retries, reported, exit status 2.
    let down = proxy(&s.server.base, vec![], Some(Fail::Drop));
    let out = scan(&[
        t.path().to_str().unwrap(),
        "--server",
        &down.base,
        "--key",
        &s.scanner,
        "--submit",
        "--submit-retries",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 2, "{recs:?}");
    for r in &recs {
        let e = r["case_error"].as_str().unwrap_or_else(|| panic!("{r}"));
        assert!(e.contains("could not be reached") && e.contains("after 3 attempts"), "{e}");
    }
    assert_eq!(down.case_requests.load(Ordering::SeqCst), 6, "3 attempts per file");
    assert_eq!(cases(&s).len(), 2, "nothing more was made");
    s.server.stop();
}

#[test]
fn submit_needs_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, format!("{}\n", common::hex_hash(1))).unwrap();
    let out =
        scan(&[dir.path().to_str().unwrap(), "--bank-file", list.to_str().unwrap(), "--submit"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--submit") && err.contains("--server URL"), "{err}");
    assert!(out.stdout.is_empty());
    // The options that only mean something with --submit are refused without it.
    let out = scan(&[
        dir.path().to_str().unwrap(),
        "--bank-file",
        list.to_str().unwrap(),
        "--service",
        "photos",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--submit"), "{}", stderr(&out));
}

/// Ctrl-C while the service keeps failing: retries stop at once, the files not sent are
/// reported as such, exit status 2.
#[test]
fn an_interrupted_scan_stops_retrying() {
    let s = setup(&[]);
    let t = tree(&s);
    let down = proxy(&s.server.base, vec![], Some(Fail::Status(503, Some(30))));
    let child = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["scan", t.path().to_str().unwrap(), "--server", &down.base, "--key", &s.scanner])
        .args(["--submit", "--submit-retries", "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    server::until_within("both files tried", std::time::Duration::from_secs(20), || {
        down.case_requests.load(Ordering::SeqCst) >= 2
    });
    let interrupted = std::time::Instant::now();
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(
        interrupted.elapsed() < std::time::Duration::from_secs(5),
        "stopped within 5 s of Ctrl-C, not after the 30 s Retry-After: {:?}",
        interrupted.elapsed()
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 2, "{recs:?}");
    for r in &recs {
        let e = r["case_error"].as_str().unwrap_or_else(|| panic!("{r}"));
        assert!(e.starts_with("503") && e.contains("interrupted"), "{e}");
    }
    assert_eq!(down.case_requests.load(Ordering::SeqCst), 2, "no retry after Ctrl-C");
    assert!(cases(&s).is_empty());
    s.server.stop();
}

/// A file far over the service's upload limit: the service refuses it before reading it all;
/// the refusal (413), not a broken connection, is what the record says, and once seen it is
/// not retried: the scan stops before its retries run out (a loaded machine may need several
/// tries, each holding the body back longer, before the refusal is seen).
#[test]
fn a_file_over_the_upload_limit_is_refused_once() {
    let s = setup(&["--max-upload", "1MiB"]);
    let dir = tempfile::tempdir().unwrap();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let img = image::RgbImage::from_fn(1600, 1600, |_, _| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    let big = dir.path().join("big.png");
    img.save(&big).unwrap();
    assert!(std::fs::metadata(&big).unwrap().len() > 4 << 20);
    let h = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["hash", "--format", "jsonl", big.to_str().unwrap()])
        .output()
        .unwrap();
    let md5 =
        serde_json::from_slice::<Value>(&h.stdout).unwrap()["md5"].as_str().unwrap().to_string();
    let entry = json!({"entries": [{"signal_type": "md5", "value": md5}]});
    let (st, v) = s.server.send("POST", Some(&s.admin), "/v1/banks/HOTLINE/entries", &entry);
    assert_eq!(st, StatusCode::OK, "{v}");
    let out = scan(&[
        dir.path().to_str().unwrap(),
        "--server",
        &s.server.base,
        "--key",
        &s.scanner,
        "--submit",
        "--submit-retries",
        "8",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 1, "{recs:?}");
    let e = recs[0]["case_error"].as_str().unwrap_or_else(|| panic!("{}", recs[0]));
    assert!(e.starts_with("413"), "{e}");
    let metrics = s.server.http.get(s.server.url("/metrics")).send().unwrap().text().unwrap();
    let refused: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("spoor_http_requests_total") && l.contains("/v1/cases"))
        .collect();
    assert_eq!(refused.len(), 1, "only 413s: {refused:?}");
    let tries: u32 = refused[0].rsplit(' ').next().unwrap().parse().unwrap();
    // Fewer than the 9 tries 8 retries allow: it stopped because it saw the refusal.
    assert!(refused[0].contains("status=\"413\"") && (1..=8).contains(&tries), "{refused:?}");
    s.server.stop();
}
