//! `spoor serve` end to end: the real binary on 127.0.0.1, real HTTP, on the embedded SQLite store
//! and on a real PostgreSQL (the server named by `SPOOR_TEST_DATABASE_URL`).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Store {
    flag: &'static str,
    value: String,
    _dir: tempfile::TempDir,
}

impl Store {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Store {
            flag: "--data-dir",
            value: dir.path().join("data").display().to_string(),
            _dir: dir,
        }
    }

    fn postgres() -> Option<Self> {
        Some(Store {
            flag: "--database-url",
            value: common::postgres_url("srv")?,
            _dir: tempfile::tempdir().unwrap(),
        })
    }

    fn spoor(&self, args: &[&str]) -> std::process::Output {
        let (cmd, rest) = args.split_first().unwrap();
        Command::new(env!("CARGO_BIN_EXE_spoor"))
            .arg(cmd)
            .arg(self.flag)
            .arg(&self.value)
            .args(rest)
            .env_remove("SPOOR_DATA_DIR")
            .env_remove("SPOOR_DATABASE_URL")
            .output()
            .unwrap()
    }

    fn key(&self, role: &str, name: &str, banks: Option<&str>) -> String {
        let mut args = vec!["keys", "create", "--role", role, "--name", name];
        if let Some(b) = banks {
            args.extend(["--banks", b]);
        }
        let out = self.spoor(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_string()
    }
}

struct Server {
    child: Child,
    base: String,
    http: Client,
}

impl Server {
    fn start(store: &Store, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spoor"))
            .args([
                "serve",
                store.flag,
                &store.value,
                "--listen",
                "127.0.0.1:0",
                "--follow-interval-ms",
                "50",
            ])
            .args(extra)
            .env_remove("SPOOR_DATA_DIR")
            .env_remove("SPOOR_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let base = loop {
            line.clear();
            assert!(err.read_line(&mut line).unwrap() > 0, "spoor serve exited before serving");
            eprint!("[serve] {line}");
            if let Some(rest) = line.split("serving on ").nth(1) {
                break rest.split(' ').next().unwrap().to_string();
            }
        };
        // Keep draining stderr (into the test's output) so the server never blocks on a full
        // pipe.
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                eprint!("[serve] {line}");
                line.clear();
            }
        });
        Server {
            child,
            base,
            http: Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get(&self, key: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().unwrap();
        let status = resp.status();
        (status, resp.json().unwrap_or(Value::Null))
    }

    fn send(
        &self,
        method: &str,
        key: Option<&str>,
        path: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut req = match method {
            "POST" => self.http.post(self.url(path)),
            "PATCH" => self.http.patch(self.url(path)),
            _ => unreachable!(),
        };
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.json(body).send().unwrap();
        let status = resp.status();
        (status, resp.json().unwrap_or(Value::Null))
    }

    fn upload(&self, key: Option<&str>, path: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let form =
            multipart::Form::new().part("file", multipart::Part::bytes(bytes).file_name("x.jpg"));
        let mut req = self.http.post(self.url(path)).multipart(form);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().unwrap();
        let status = resp.status();
        (status, resp.json().unwrap_or(Value::Null))
    }

    fn matches(&self, key: &str, pdq: &str) -> Vec<Value> {
        let (s, v) = self.get(Some(key), &format!("/v1/match?signal_type=pdq&value={pdq}"));
        assert_eq!(s, StatusCode::OK, "{v}");
        v["matches"].as_array().unwrap().clone()
    }

    fn stop(mut self) {
        // SIGTERM: graceful shutdown, exit status 0.
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "spoor serve exited with {status} on SIGTERM");
                return;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "no exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bridge(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/pdq/bridge-mods")
        .join(name);
    std::fs::read(p).unwrap()
}

fn until(what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < Duration::from_secs(1), "{what}: not within 1 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

fn service(store: Store) {
    let admin = store.key("admin", "admin", None);
    let curator = store.key("curator", "curator-anna", None);
    let hasher = store.key("hasher", "hasher", None);
    let s = Server::start(&store, &[]);
    let matcher = store.key("matcher", "uploads", None);

    // A key made while the service runs works within a second.
    until("new key", || {
        s.get(Some(&matcher), &format!("/v1/match?signal_type=pdq&value={}", common::hex_hash(0))).0
            == StatusCode::OK
    });

    let (st, b) = s.send(
        "POST",
        Some(&curator),
        "/v1/banks",
        &json!({"name": "HOTLINE", "description": "assessed"}),
    );
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["name"], "HOTLINE");
    let (st, _) = s.send("POST", Some(&curator), "/v1/banks", &json!({"name": "HOTLINE"}));
    assert_eq!(st, StatusCode::CONFLICT);
    s.send("POST", Some(&admin), "/v1/banks", &json!({"name": "PARTNER"}));
    let scoped = store.key("matcher", "partner-only", Some("PARTNER"));

    // Entries: batch of 10,000, idempotent.
    let entries: Vec<Value> = (0..10_000)
        .map(|k| json!({"signal_type": "pdq", "value": common::hex_hash(k + 1), "category": "baseline"}))
        .collect();
    let (st, r) =
        s.send("POST", Some(&curator), "/v1/banks/HOTLINE/entries", &json!({"entries": entries}));
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["added"], 10_000);
    let (_, r) = s.send(
        "POST",
        Some(&curator),
        "/v1/banks/HOTLINE/entries",
        &json!({"entries": entries[..10]}),
    );
    assert_eq!((r["added"].as_u64(), r["already_present"].as_u64()), (Some(0), Some(10)));
    let id7 = r["results"][6]["id"].as_i64().unwrap();

    // Live: added entries match within a second.
    let elapsed =
        until("added entries match", || !s.matches(&matcher, &common::hex_hash(7)).is_empty());
    eprintln!("added → matching in {elapsed:?}");
    let m = s.matches(&matcher, &common::hex_hash(7));
    assert_eq!(
        (m[0]["bank"].as_str(), m[0]["entry_id"].as_i64(), m[0]["distance"].as_u64()),
        (Some("HOTLINE"), Some(id7), Some(0))
    );
    assert_eq!(m[0]["category"], "baseline");
    assert!(m[0].get("value").is_none(), "match results never carry entry values");
    // The scoped matcher (made a moment ago) sees only its bank.
    until("scoped key", || {
        s.get(Some(&scoped), "/v1/match?signal_type=md5&value=00000000000000000000000000000000").0
            == StatusCode::OK
    });
    assert!(s.matches(&scoped, &common::hex_hash(7)).is_empty());

    // Disable through the API: stops matching within a second; the change names the key.
    let (st, e) = s.send(
        "PATCH",
        Some(&curator),
        &format!("/v1/banks/HOTLINE/entries/{id7}"),
        &json!({"enabled": false, "reason": "stock photo"}),
    );
    assert_eq!(st, StatusCode::OK, "{e}");
    assert_eq!(
        (e["enabled"].as_bool(), e["disabled_by"].as_str()),
        (Some(false), Some("curator-anna"))
    );
    until("disabled entry stops matching", || s.matches(&matcher, &common::hex_hash(7)).is_empty());
    // Disable through another path (the CLI on the same store): same.
    let id8 = r["results"][7]["id"].as_i64().unwrap().to_string();
    let out = store.spoor(&["bank", "disable", "HOTLINE", &id8, "--reason", "duplicate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    until("entry disabled by the CLI stops matching", || {
        s.matches(&matcher, &common::hex_hash(8)).is_empty()
    });
    let log =
        String::from_utf8(store.spoor(&["bank", "log", "HOTLINE", "--limit", "100000"]).stdout)
            .unwrap();
    let last: Vec<Value> =
        log.lines().rev().take(2).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(last[1]["actor"], "curator-anna");
    assert_eq!(last[1]["reason"], "stock photo");

    // Reading lists: curators yes, matchers and hashers never.
    let (st, page) = s.get(Some(&curator), "/v1/banks/HOTLINE/entries?limit=2");
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    assert!(page["entries"][0]["value"].is_string());
    for k in [&matcher, &scoped, &hasher] {
        for path in ["/v1/banks", "/v1/banks/HOTLINE", "/v1/banks/HOTLINE/entries"] {
            let (st, body) = s.get(Some(k), path);
            assert_eq!(st, StatusCode::FORBIDDEN, "{path}: {body}");
            assert!(!body.to_string().contains(&common::hex_hash(1)));
        }
    }

    // Upload: a resized, re-encoded copy of a banked image matches; an unrelated one does not.
    let (st, h) = s.upload(Some(&hasher), "/v1/hash", bridge("aaa-orig.jpg"));
    assert_eq!(st, StatusCode::OK, "{h}");
    assert_eq!(h["pdq"], "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22");
    assert_eq!((h["width"].as_u64(), h["md5"].as_str().map(str::len)), (Some(1600), Some(32)));
    s.send(
        "POST",
        Some(&curator),
        "/v1/banks/HOTLINE/entries",
        &json!({"entries": [{"signal_type": "pdq", "value": h["pdq"]}]}),
    );
    until("banked image", || !s.matches(&matcher, h["pdq"].as_str().unwrap()).is_empty());
    let (st, u) = s.upload(Some(&matcher), "/v1/match/upload", bridge("square-512x512.jpg"));
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["matches"].as_array().unwrap().len(), 1, "{u}");
    assert!(u["matches"][0]["distance"].as_u64().unwrap() <= 31);
    let (_, u) = s.upload(Some(&matcher), "/v1/match/upload", b"not an image at all".to_vec());
    assert!(
        u["hashes"]["pdq_error"].is_string() && u["matches"].as_array().unwrap().is_empty(),
        "{u}"
    );
    let (st, _) = s.upload(Some(&hasher), "/v1/match/upload", bridge("aaa-orig.jpg"));
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Per-bank radius: a stricter bank stops matching a copy 10 bits away; a paused bank
    // matches nothing.
    let near = {
        let mut b = u128::from_str_radix(&common::hex_hash(20)[..32], 16).unwrap();
        b ^= 0x3ff;
        format!("{:032x}{}", b, &common::hex_hash(20)[32..])
    };
    assert_eq!(s.matches(&curator, &near)[0]["distance"], 10);
    let (st, b) = s.send(
        "PATCH",
        Some(&curator),
        "/v1/banks/HOTLINE",
        &json!({"pdq_radius": 8, "reason": "stricter"}),
    );
    assert_eq!((st, b["pdq_radius"].as_u64()), (StatusCode::OK, Some(8)), "{b}");
    until("radius 8", || s.matches(&curator, &near).is_empty());
    assert_eq!(s.matches(&curator, &common::hex_hash(20)).len(), 1);
    s.send(
        "PATCH",
        Some(&curator),
        "/v1/banks/HOTLINE",
        &json!({"pdq_radius": 31, "enabled": false, "reason": "list under review"}),
    );
    until("paused bank", || s.matches(&curator, &common::hex_hash(20)).is_empty());
    s.send(
        "PATCH",
        Some(&curator),
        "/v1/banks/HOTLINE",
        &json!({"enabled": true, "reason": "reviewed"}),
    );
    until("resumed bank", || s.matches(&curator, &near).len() == 1);
    let (st, b) = s.send(
        "PATCH",
        Some(&curator),
        "/v1/banks/HOTLINE",
        &json!({"pdq_radius": 65, "reason": "x"}),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");

    // A video's vPDQ matches a banked video through the frame index.
    let frames: Vec<String> =
        (0..20).map(|k| format!("{},90,{k}.000", common::hex_hash(500 + k))).collect();
    let banked = serde_json::to_string(&frames).unwrap();
    let (st, b) = s.send(
        "POST",
        Some(&curator),
        "/v1/banks/HOTLINE/entries",
        &json!({"entries": [{"signal_type": "vpdq", "value": banked}]}),
    );
    assert_eq!(st, StatusCode::OK, "{b}");
    let query = serde_json::to_string(&frames[..10]).unwrap();
    until("banked video", || {
        let (_, r) = s.send(
            "POST",
            Some(&matcher),
            "/v1/match",
            &json!({"signals": [{"signal_type": "vpdq", "value": query}]}),
        );
        r["results"][0]["matches"].as_array().is_some_and(|m| m.len() == 1)
    });
    let (_, r) = s.send(
        "POST",
        Some(&matcher),
        "/v1/match",
        &json!({"signals": [{"signal_type": "vpdq", "value": query}]}),
    );
    let m = &r["results"][0]["matches"][0];
    assert_eq!(
        (m["query_match"].as_f64(), m["compared_match"].as_f64()),
        (Some(100.0), Some(50.0)),
        "{r}"
    );
    let (st, _) = s.send(
        "POST",
        Some(&matcher),
        "/v1/match",
        &json!({"signals": [{"signal_type": "vpdq", "value": "[\"zz\"]"}]}),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Batch matching, in order.
    let (st, r) = s.send("POST", Some(&matcher), "/v1/match", &json!({"signals": [
        {"signal_type": "pdq", "value": common::hex_hash(20)}, {"signal_type": "md5", "value": "00".repeat(16)}]}));
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["results"][0]["matches"].as_array().unwrap().len(), 1);
    assert!(r["results"][1]["matches"].as_array().unwrap().is_empty());

    // Revoking a key locks it out within a second.
    let out = store.spoor(&["keys", "revoke", "uploads"]);
    assert!(out.status.success());
    until("revoked key", || {
        s.get(Some(&matcher), &format!("/v1/match?signal_type=pdq&value={}", common::hex_hash(1))).0
            == StatusCode::UNAUTHORIZED
    });

    // The documented surface.
    let (st, doc) = s.get(None, "/openapi.json");
    assert_eq!(st, StatusCode::OK);
    for path in [
        "/health",
        "/metrics",
        "/v1/banks",
        "/v1/banks/{name}",
        "/v1/banks/{name}/entries",
        "/v1/banks/{name}/entries/{id}",
        "/v1/match",
        "/v1/match/upload",
        "/v1/hash",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let (st, health) = s.get(None, "/health");
    assert_eq!((st, health), (StatusCode::OK, json!({"status": "ok"})));
    let metrics = s.http.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("spoor_http_requests_total"), "{metrics}");
    assert!(metrics.contains("spoor_index_pdq_entries 9999"), "{metrics}");
    s.stop();
}

fn auth_and_bad_requests(store: Store) {
    let curator = store.key("curator", "c", None);
    let hasher = store.key("hasher", "h", None);
    let s = Server::start(&store, &["--max-body", "64KiB", "--max-upload", "100KiB"]);
    s.send("POST", Some(&curator), "/v1/banks", &json!({"name": "B"}));
    let pdq = common::hex_hash(1);
    let routes: Vec<(&str, String, Value)> = vec![
        ("GET", "/v1/banks".into(), Value::Null),
        ("POST", "/v1/banks".into(), json!({"name": "X"})),
        ("GET", "/v1/banks/B".into(), Value::Null),
        ("GET", "/v1/banks/B/entries".into(), Value::Null),
        ("POST", "/v1/banks/B/entries".into(), json!({"entries": []})),
        ("PATCH", "/v1/banks/B/entries/1".into(), json!({"enabled": false, "reason": "x"})),
        ("GET", format!("/v1/match?signal_type=pdq&value={pdq}"), Value::Null),
        ("POST", "/v1/match".into(), json!({"signals": []})),
    ];
    for (method, path, body) in &routes {
        for key in [None, Some("spoor_000000000000_00"), Some("Basic abc")] {
            let (st, b) =
                if *method == "GET" { s.get(key, path) } else { s.send(method, key, path, body) };
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{method} {path} with {key:?}: {b}");
            assert_eq!(b["error"]["code"], "unauthorized");
        }
        // A hasher may do none of these.
        let (st, _) = if *method == "GET" {
            s.get(Some(&hasher), path)
        } else {
            s.send(method, Some(&hasher), path, body)
        };
        assert_eq!(st, StatusCode::FORBIDDEN, "{method} {path}");
    }
    for path in ["/v1/match/upload", "/v1/hash"] {
        assert_eq!(s.upload(None, path, vec![1, 2, 3]).0, StatusCode::UNAUTHORIZED);
    }

    // Bad requests name the field.
    let cases = [
        (
            "/v1/banks/B/entries",
            json!({"entries": [{"signal_type": "pdq", "value": "abc"}]}),
            "entries[0].value",
        ),
        (
            "/v1/banks/B/entries",
            json!({"entries": [{"signal_type": "phash", "value": "abc"}]}),
            "entries[0].signal_type",
        ),
        (
            "/v1/banks/B/entries",
            json!({"entries": [{"signal_type": "md5", "value": pdq}]}),
            "entries[0].value",
        ),
        (
            "/v1/banks/B/entries",
            json!({"entries": [{"signal_type": "pdq", "value": pdq, "colour": 1}]}),
            "colour",
        ),
        (
            "/v1/banks/B/entries",
            json!({"entries": [{"signal_type": "pdq", "value": pdq, "category": "bad"}]}),
            "entries[0].category",
        ),
        ("/v1/banks", json!({"name": "lower"}), "A-Z"),
        (
            "/v1/match",
            json!({"signals": [{"signal_type": "pdq", "value": "zz"}]}),
            "signals[0].value",
        ),
        ("/v1/match", json!({"signals": [], "radius": 3}), "radius"),
    ];
    for (path, body, needle) in cases {
        let (st, b) = s.send("POST", Some(&curator), path, &body);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path} {body}: {b}");
        assert!(b["error"]["message"].as_str().unwrap().contains(needle), "{needle}: {b}");
    }
    let (st, b) = s.get(Some(&curator), "/v1/match?signal_type=pdq&value=12");
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(b["error"]["message"].as_str().unwrap().starts_with("value:"), "{b}");
    let (st, _) = s.get(Some(&curator), "/v1/match?signal_type=pdq");
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, b) = s.send(
        "PATCH",
        Some(&curator),
        "/v1/banks/B/entries/999",
        &json!({"enabled": false, "reason": "x"}),
    );
    assert_eq!(st, StatusCode::NOT_FOUND, "{b}");
    let (st, b) = s.send(
        "PATCH",
        Some(&curator),
        "/v1/banks/B/entries/abc",
        &json!({"enabled": false, "reason": "x"}),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    let (st, _) = s.get(Some(&curator), "/v1/banks/NOPE");
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, b) = s.get(Some(&curator), "/v2/nothing");
    assert_eq!((st, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    // Size limits: 413.
    let big: Vec<Value> =
        (0..2000).map(|k| json!({"signal_type": "pdq", "value": common::hex_hash(k)})).collect();
    let (st, b) = s.send("POST", Some(&curator), "/v1/banks/B/entries", &json!({"entries": big}));
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert_eq!(raw_upload(&s, &hasher, 200 * 1024), 413);
    // Not JSON.
    let resp = s.http.post(s.url("/v1/banks")).bearer_auth(&curator).body("name=B").send().unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A corrupt image is a clean answer, not a failure.
    let mut jpeg = bridge("square-128x128.jpg");
    jpeg.truncate(jpeg.len() / 3);
    let (st, b) = s.upload(Some(&hasher), "/v1/hash", jpeg);
    assert_eq!(st, StatusCode::OK, "{b}");
    assert!(b["md5"].is_string());
    s.stop();
}

/// Sends an upload of `n` bytes over a raw connection and returns the status code: the server
/// answers 413 and closes as soon as the limit is passed, which an HTTP client still sending its
/// body reports as a broken connection instead.
fn raw_upload(s: &Server, key: &str, n: usize) -> u16 {
    use std::io::{Read, Write};
    let addr = s.base.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let boundary = "spoorboundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let len = head.len() + n + tail.len();
    let req = format!(
        "POST /v1/hash HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    let _ = c.write_all(req.as_bytes());
    let _ = c.write_all(head.as_bytes());
    let _ = c.write_all(&vec![b'x'; n]);
    let _ = c.write_all(tail.as_bytes());
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

fn rate_limit(store: Store) {
    let k = store.key("hasher", "slow", None);
    let s = Server::start(&store, &["--rate-limit", "5"]);
    let statuses: Vec<StatusCode> =
        (0..20).map(|_| s.upload(Some(&k), "/v1/hash", b"abc".to_vec()).0).collect();
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    assert!(statuses.contains(&StatusCode::OK));
    s.stop();
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::Store::sqlite()) })*
        }
        mod pg {
            $(#[test] fn $name() { if let Some(s) = super::Store::postgres() { super::$name(s) } })*
        }
    };
}

both!(service, auth_and_bad_requests, rate_limit);
