//! `spoor serve` end to end: the real binary on 127.0.0.1, real HTTP, on the embedded SQLite store
//! and on a real PostgreSQL (the server named by `SPOOR_TEST_DATABASE_URL`).

use crate::common;
use crate::server;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{bridge, raw_upload, until, until_within, Server, Store};

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
    assert_eq!((m[0]["bank"].as_str(), m[0]["entry_id"].as_i64()), (Some("HOTLINE"), Some(id7)));
    assert_eq!(m[0]["category"], "baseline");
    assert!(m[0].get("value").is_none(), "match results never carry entry values");
    // Distances: never to a plain matcher key; to one made with --show-distance, and to
    // curators (who may read the list anyway).
    assert!(m[0].get("distance").is_none(), "a matcher key sees no distance: {m:?}");
    let trusted = store.key_with("matcher", "trusted", &["--show-distance"]);
    until("trusted key", || {
        s.get(Some(&trusted), "/v1/match?signal_type=md5&value=00000000000000000000000000000000").0
            == StatusCode::OK
    });
    for k in [&trusted, &curator] {
        assert_eq!(s.matches(k, &common::hex_hash(7))[0]["distance"], 0);
    }
    let out =
        store.spoor(&["keys", "create", "--role", "hasher", "--name", "x", "--show-distance"]);
    assert!(!out.status.success(), "--show-distance is for matcher keys");
    // The scoped matcher (made a moment ago) sees only its bank.
    until("scoped key", || {
        s.get(Some(&scoped), "/v1/match?signal_type=md5&value=00000000000000000000000000000000").0
            == StatusCode::OK
    });
    assert!(s.matches(&scoped, &common::hex_hash(7)).is_empty());

    // PATCH is all or nothing: a disable with an invalid tag writes nothing, and the entry
    // still matches.
    let (st, e) = s.send(
        "PATCH",
        Some(&curator),
        &format!("/v1/banks/HOTLINE/entries/{id7}"),
        &json!({"enabled": false, "tags": ["BAD TAG"], "reason": "stock photo"}),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, e) =
        s.get(Some(&curator), &format!("/v1/banks/HOTLINE/entries?after={}&limit=1", id7 - 1));
    assert_eq!(st, StatusCode::OK, "{e}");
    assert_eq!(e["entries"][0]["id"].as_i64(), Some(id7), "{e}");
    assert_eq!(e["entries"][0]["enabled"], true, "{e}");
    assert_eq!(s.matches(&matcher, &common::hex_hash(7)).len(), 1);
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
        (Some(false), Some("key:curator-anna"))
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
    assert_eq!(last[1]["actor"], "key:curator-anna");
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

    // The audit log: every change and every list read, by whom; for admin and auditor keys.
    let auditor = store.key("auditor", "auditor-ida", None);
    until("auditor key", || s.get(Some(&auditor), "/v1/audit?limit=1").0 == StatusCode::OK);
    let (st, a) = s.get(Some(&auditor), "/v1/audit?action=entry_disable");
    assert_eq!(st, StatusCode::OK, "{a}");
    let disables = a["records"].as_array().unwrap();
    assert_eq!(disables.len(), 2, "{a}");
    assert_eq!(
        (&disables[0]["actor_kind"], &disables[0]["actor"], &disables[0]["object_id"]),
        (&json!("key"), &json!("curator-anna"), &json!(id7.to_string()))
    );
    assert_eq!(disables[0]["details"]["reason"], "stock photo");
    assert_eq!(disables[1]["actor_kind"], "cli");
    let (_, a) = s.get(Some(&admin), "/v1/audit?action=entries_read&actor=curator-anna");
    let reads = a["records"].as_array().unwrap();
    // Two reads so far: one page of one entry after id 6, one of two from the start.
    assert_eq!(reads.len(), 2, "{a}");
    assert_eq!(
        (reads[1]["object_id"].as_str(), reads[1]["details"]["count"].as_u64()),
        (Some("HOTLINE"), Some(2))
    );
    let (_, a) = s.get(Some(&auditor), "/v1/audit?limit=1000");
    let all = a["records"].as_array().unwrap();
    assert!(all.iter().enumerate().all(|(i, r)| r["seq"] == i + 1), "{a}");
    assert!(all.iter().any(|r| r["action"] == "key_create" && r["object_id"] == "auditor-ida"));
    assert!(!a.to_string().contains(&common::hex_hash(1)), "the audit log names no banked value");
    for k in [&matcher, &curator, &hasher] {
        assert_eq!(s.get(Some(k), "/v1/audit").0, StatusCode::FORBIDDEN);
    }
    for bad in ["limit=0", "limit=1001", "after=-1", "since=yesterday", "colour=red"] {
        let (st, body) = s.get(Some(&auditor), &format!("/v1/audit?{bad}"));
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
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
    assert!(u["matches"][0].get("distance").is_none(), "{u}");
    let (st, u) = s.upload(Some(&trusted), "/v1/match/upload", bridge("square-512x512.jpg"));
    assert_eq!(st, StatusCode::OK, "{u}");
    let d = u["matches"][0]["distance"].as_u64().unwrap();
    assert!(d <= 31, "{u}");
    let (_, u) = s.upload(Some(&matcher), "/v1/match/upload", b"not an image at all".to_vec());
    assert!(
        u["hashes"]["pdq_error"].is_string() && u["matches"].as_array().unwrap().is_empty(),
        "{u}"
    );
    // Refused before the body is read: a small body is still drained so the client gets the
    // answer (a large one is not read at all; see uploads_are_refused_before_their_body_is_read).
    let (st, _) = s.upload(Some(&hasher), "/v1/match/upload", bridge("square-128x128.jpg"));
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

/// Sends the head of a request (with `Content-Length` for a body that never comes) and reads
/// the answer: status, head, body. Panics when no answer comes within 5 s.
fn head_only(s: &Server, path: &str, key: &str, declared: usize) -> (u16, String, String) {
    use std::io::Write;
    let mut c = std::net::TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {declared}\r\n\r\n",
        s.addr()
    );
    c.write_all(req.as_bytes()).unwrap();
    read_answer(&mut c)
}

/// Reads one HTTP/1.1 answer (head and `Content-Length` body) from a raw connection.
fn read_answer(c: &mut impl std::io::Read) -> (u16, String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return (status, head, body);
            }
        }
        let n = c.read(&mut chunk).expect("an answer within 5 s");
        assert!(
            n > 0,
            "connection closed before a whole answer: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Keys are checked from the headers alone: a client that declares a 60 MiB upload and sends
/// nothing more gets its 401 (or 403) at once, and uploads beyond the permits are refused at
/// once with `Retry-After` rather than queued.
#[test]
fn uploads_are_refused_before_their_body_is_read() {
    let store = Store::sqlite();
    let matcher = store.key("matcher", "m", None);
    let hasher = store.key("hasher", "h", None);
    let s = Server::start(&store, &["--max-concurrent-uploads", "1"]);
    for (path, key, want) in [
        ("/v1/match/upload", "spoor_000000000000_00", 401),
        ("/v1/hash", "not-a-key", 401),
        ("/v1/match/upload", hasher.as_str(), 403),
    ] {
        let t = Instant::now();
        let (status, _, body) = head_only(&s, path, key, 60 << 20);
        let took = t.elapsed();
        assert_eq!(status, want, "{path}: {body}");
        assert!(took < Duration::from_secs(1), "{path}: answered after {took:?}");
    }
    // A valid upload whose body stalls holds the only permit...
    use std::io::Write;
    let mut stalled = std::net::TcpStream::connect(s.addr()).unwrap();
    write!(
        stalled,
        "POST /v1/hash HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {matcher}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n--b\r\n"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // ...so the next one is refused at once, with Retry-After, without its body being read.
    let t = Instant::now();
    let (status, head, body) = head_only(&s, "/v1/match/upload", &matcher, 60 << 20);
    assert_eq!(status, 503, "{body}");
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    assert!(body.contains("--max-concurrent-uploads"), "{body}");
    // The permit comes back when the stalled client goes away.
    drop(stalled);
    until("permit released", || {
        s.upload(Some(&matcher), "/v1/hash", b"abc".to_vec()).0 == StatusCode::OK
    });
    s.stop();
}

fn flip(hex: &str, bits: impl IntoIterator<Item = usize>) -> String {
    let mut b: Vec<u8> =
        (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    for bit in bits {
        b[bit / 8] ^= 1 << (bit % 8);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn bit(hex: &str, bit: usize) -> bool {
    let byte = u8::from_str_radix(&hex[2 * (bit / 8)..2 * (bit / 8) + 2], 16).unwrap();
    byte & (1 << (bit % 8)) != 0
}

fn probe_alerts(s: &Server) -> u64 {
    let m = s.http.get(s.url("/metrics")).send().unwrap().text().unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix("spoor_probe_alerts_total "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// The boundary walk, as a matcher key with yes/no answers: from a hash 10 bits from a banked
/// one, flip agreeing bits until the answer turns to no (the radius boundary), then flip each
/// bit of the last hash inside: a yes means that bit disagrees with the banked hash. Each bit
/// test teaches exactly one bit; the measure is the number of bits the client knows for certain
/// from the answers. The detector stops it after a few, raises the alert, and the key stays
/// stopped. Exact distances (a `--show-distance` key) in one batch of 257 are stopped too.
#[test]
fn a_boundary_walk_is_stopped_before_it_learns_the_hash() {
    let store = Store::sqlite();
    let curator = store.key("curator", "c", None);
    let prober = store.key("matcher", "prober", None);
    let exact = store.key_with("matcher", "exact", &["--show-distance"]);
    let s = Server::start(&store, &[]);
    s.send("POST", Some(&curator), "/v1/banks", &json!({"name": "HOTLINE"}));
    let banked = common::hex_hash(900);
    let (st, b) = s.send(
        "POST",
        Some(&curator),
        "/v1/banks/HOTLINE/entries",
        &json!({"entries": [{"signal_type": "pdq", "value": banked}]}),
    );
    assert_eq!(st, StatusCode::OK, "{b}");
    until("banked", || !s.matches(&curator, &banked).is_empty());
    assert_eq!(probe_alerts(&s), 0);

    // Some(true): a match; Some(false): none; None: refused for probing.
    let ask = |q: &str| -> Option<bool> {
        let (st, v) = s.get(Some(&prober), &format!("/v1/match?signal_type=pdq&value={q}"));
        if st == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(v["error"]["code"], "probing_stopped", "{v}");
            assert!(v["error"]["message"].as_str().unwrap().contains("admin"), "{v}");
            return None;
        }
        assert_eq!(st, StatusCode::OK, "{v}");
        assert!(v["matches"].as_array().unwrap().iter().all(|m| m.get("distance").is_none()));
        Some(!v["matches"].as_array().unwrap().is_empty())
    };
    let start = flip(&banked, 0..10);
    let mut known = 0usize; // bits of the banked hash the client knows for certain
    let mut stopped = false;
    let mut inside = start.clone();
    assert_eq!(ask(&start), Some(true));
    // Walk out to the boundary.
    for b in 10..256 {
        let next = flip(&inside, [b]);
        match ask(&next) {
            None => {
                stopped = true;
                break;
            }
            Some(true) => inside = next,
            Some(false) => {
                known += 1; // bit b of `inside` agrees with the banked hash
                break;
            }
        }
    }
    // Test every bit at the boundary.
    if !stopped {
        for b in 0..256 {
            match ask(&flip(&inside, [b])) {
                None => {
                    stopped = true;
                    break;
                }
                Some(disagrees) => {
                    known += 1;
                    // The attack is real: what it learns is right.
                    assert_eq!(bit(&inside, b) != disagrees, bit(&banked, b), "bit {b}");
                }
            }
        }
    }
    eprintln!("boundary walk: stopped {stopped}, {known} bits learned");
    assert!(stopped, "the walk was never stopped");
    assert!(known < 32, "{known} bits learned before the stop");
    assert_eq!(probe_alerts(&s), 1);
    // Stopped for good: even an unrelated query is refused.
    assert_eq!(ask(&common::hex_hash(901)), None);

    // With exact distances, one batch of the hash and its 256 one-bit neighbours would give
    // the banked hash at once: the whole batch is refused, no answer leaks.
    let signals: Vec<Value> = std::iter::once(start.clone())
        .chain((0..256).map(|b| flip(&start, [b])))
        .map(|v| json!({"signal_type": "pdq", "value": v}))
        .collect();
    until("key with distances", || s.matches(&exact, &banked).len() == 1);
    let (st, v) = s.send("POST", Some(&exact), "/v1/match", &json!({"signals": signals}));
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(v.get("results").is_none());
    assert_eq!(probe_alerts(&s), 2);
    // Curators may read the list anyway: never stopped.
    let (st, _) = s.send("POST", Some(&curator), "/v1/match", &json!({"signals": signals}));
    assert_eq!(st, StatusCode::OK);
    s.stop();
}

/// A hoster's traffic: 10,000 lookups of unrelated hashes, each image sent twice (re-uploads
/// are exact repeats), in batches and one at a time, raise no alert and are never throttled.
#[test]
fn ordinary_lookups_raise_no_probe_alert() {
    let store = Store::sqlite();
    let curator = store.key("curator", "c", None);
    let hoster = store.key("matcher", "hoster", None);
    let s = Server::start(&store, &[]);
    s.send("POST", Some(&curator), "/v1/banks", &json!({"name": "HOTLINE"}));
    let banked = common::hex_hashes(1000, 77);
    let entries: Vec<Value> =
        banked.iter().map(|v| json!({"signal_type": "pdq", "value": v})).collect();
    s.send("POST", Some(&curator), "/v1/banks/HOTLINE/entries", &json!({"entries": entries}));
    // The batch is one transaction: once one of it matches, all of it does.
    until("banked entries match", || !s.matches(&curator, &banked[999]).is_empty());
    let uploads = common::hex_hashes(4500, 78);
    // Some uploads are copies of banked images, re-encoded (a few bits off).
    let mut queries: Vec<String> = uploads.clone();
    queries.extend(banked[..100].iter().map(|h| flip(h, [3, 77, 200])));
    let mut matched = 0;
    for pass in 0..2 {
        for chunk in queries.chunks(460) {
            let signals: Vec<Value> =
                chunk.iter().map(|v| json!({"signal_type": "pdq", "value": v})).collect();
            let (st, v) = s.send("POST", Some(&hoster), "/v1/match", &json!({"signals": signals}));
            assert_eq!(st, StatusCode::OK, "pass {pass}: {v}");
            matched += v["results"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| !r["matches"].as_array().unwrap().is_empty())
                .count();
        }
    }
    assert_eq!(matched, 200, "each banked copy matched on both passes");
    // And 800 more one at a time (the same images again).
    for q in queries.iter().take(800) {
        let (st, v) = s.get(Some(&hoster), &format!("/v1/match?signal_type=pdq&value={q}"));
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    assert_eq!(probe_alerts(&s), 0);
    s.stop();
}

/// Holds exclusive locks on the SQLite WAL-index lock bytes of `db` (as an exclusive writer
/// recovering the index would), so that no other process can read the database until dropped.
struct SqliteBlocked(#[allow(dead_code)] std::fs::File);

fn block_sqlite(db: &std::path::Path) -> SqliteBlocked {
    use nix::fcntl::{fcntl, FcntlArg};
    let shm = std::fs::OpenOptions::new().read(true).write(true).open(db.with_extension("db-shm"));
    let shm = shm.expect("the service has the database open in WAL mode");
    let lock = nix::libc::flock {
        l_type: nix::libc::F_WRLCK as i16,
        l_whence: nix::libc::SEEK_SET as i16,
        l_start: 120, // the eight WAL-index locks (write, checkpoint, recover, 5 read marks)
        l_len: 8,
        l_pid: 0,
    };
    fcntl(&shm, FcntlArg::F_SETLKW(&lock)).expect("lock the WAL index");
    SqliteBlocked(shm)
}

/// `/ready` tells a reachable store and a current follower from a broken one, and data routes
/// fail closed when the keys cannot be re-read: a revoked key must not keep working.
#[test]
fn readiness_and_stale_keys() {
    let store = Store::sqlite();
    let matcher = store.key("matcher", "m", None);
    let s = Server::start(&store, &["--key-max-staleness", "2", "--ready-max-lag", "2"]);
    let pdq = format!("/v1/match?signal_type=pdq&value={}", common::hex_hash(1));
    let (st, r) = s.get(None, "/ready");
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!((r["status"].as_str(), r["store_reachable"].as_bool()), (Some("ready"), Some(true)));
    assert!(r["follower_lag_seconds"].as_f64().unwrap() < 2.0, "{r}");
    assert_eq!(s.get(Some(&matcher), &pdq).0, StatusCode::OK);

    let blocked = block_sqlite(&std::path::Path::new(&store.value).join("spoor.db"));
    until_within("not ready", Duration::from_secs(6), || {
        let (st, r) = s.get(None, "/ready");
        st == StatusCode::SERVICE_UNAVAILABLE && r["store_reachable"] == false
    });
    until_within("data routes fail closed", Duration::from_secs(6), || {
        s.get(Some(&matcher), &pdq).0 == StatusCode::SERVICE_UNAVAILABLE
    });
    let (_, r) = s.get(None, "/ready");
    let problems = r["problems"].to_string();
    assert!(problems.contains("unreachable") && problems.contains("--ready-max-lag"), "{r}");
    let (_, e) = s.get(Some(&matcher), &pdq);
    assert!(e["error"]["message"].as_str().unwrap().contains("--key-max-staleness"), "{e}");
    // Liveness is not readiness.
    assert_eq!(s.get(None, "/health").0, StatusCode::OK);

    drop(blocked);
    // SQLite gives up on a blocked read after about 10 s; then the next poll succeeds.
    until_within("ready again", Duration::from_secs(20), || {
        s.get(None, "/ready").0 == StatusCode::OK
    });
    until_within("keys again", Duration::from_secs(5), || {
        s.get(Some(&matcher), &pdq).0 == StatusCode::OK
    });
    s.stop();
}

/// HTTPS with a certificate the test makes: a client that trusts it gets answers; plain HTTP
/// to the same port gets none; SIGTERM still stops the service cleanly.
#[test]
fn serves_https_with_its_own_certificate() {
    let store = Store::sqlite();
    let matcher = store.key("matcher", "m", None);
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert_file = store.dir.path().join("cert.pem");
    let key_file = store.dir.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let trusting = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let s = Server::start_with(
        &store,
        &["--tls-cert", cert_file.to_str().unwrap(), "--tls-key", key_file.to_str().unwrap()],
        trusting,
    );
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    let (st, h) = s.get(None, "/health");
    assert_eq!((st, h["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (st, m) =
        s.get(Some(&matcher), &format!("/v1/match?signal_type=pdq&value={}", common::hex_hash(1)));
    assert_eq!(st, StatusCode::OK, "{m}");
    // A client that does not trust the certificate refuses to talk.
    let untrusting = reqwest::blocking::Client::new();
    assert!(untrusting.get(s.url("/health")).send().is_err());
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::blocking::Client::new().get(format!("http://{}/health", s.addr())).send();
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // A bad key file is refused at start with a message naming the flag.
    std::fs::write(&key_file, "not a key").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["serve", store.flag, &store.value, "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", cert_file.to_str().unwrap(), "--tls-key", key_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tls-key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.stop();
}

/// A clean shutdown writes the matcher snapshot; the next start uses it and the changes made
/// while the service was down; a damaged snapshot is passed over for a full load.
#[test]
fn restarts_from_its_snapshot_and_the_changes_since() {
    let store = Store::sqlite();
    let curator = store.key("curator", "curator", None);
    let out = store.spoor(&["bank", "create", "SNAP"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    let hashes = common::hex_hashes(200, 77);
    std::fs::write(&list, hashes.join("\n")).unwrap();
    let out = store.spoor(&["bank", "import", "SNAP", list.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let snapshot = std::path::Path::new(&store.value).join("matcher.snapshot");

    let s = Server::start(&store, &[]);
    assert_eq!(s.matches(&curator, &hashes[3]).len(), 1);
    s.stop();
    let written = std::fs::metadata(&snapshot).expect("a snapshot written at shutdown");
    assert!(written.len() > 200 * 32, "{} bytes", written.len());

    // While the service is down: one entry disabled, one hash added.
    let out = store.spoor(&["bank", "disable", "SNAP", "4", "--reason", "false positive"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let extra = common::hex_hash(4242);
    std::fs::write(&list, &extra).unwrap();
    let out = store.spoor(&["bank", "import", "SNAP", list.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let check = |s: &Server| {
        assert!(s.matches(&curator, &hashes[3]).is_empty(), "entry 4 was disabled");
        assert_eq!(s.matches(&curator, &hashes[4]).len(), 1);
        assert_eq!(s.matches(&curator, &extra).len(), 1, "added while the service was down");
    };
    let s = Server::start(&store, &[]);
    check(&s);
    s.stop();

    // A damaged snapshot: the service starts anyway, from the store, with the same answers.
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&snapshot, &bytes).unwrap();
    let s = Server::start(&store, &[]);
    check(&s);
    s.stop();
    // --no-snapshot neither reads nor writes one.
    std::fs::remove_file(&snapshot).unwrap();
    let s = Server::start(&store, &["--no-snapshot"]);
    check(&s);
    s.stop();
    assert!(!snapshot.exists());
}

/// `--match-unframed`: an upload of a banked photo in a frame matches as `unframed`, with the
/// frame and the inside's hash in its hashes; the photo itself still matches plainly; a service
/// without the flag finds no match for the framed copy and reports no frame.
#[test]
fn uploads_in_a_frame_match_what_is_inside() {
    let store = Store::sqlite();
    let curator = store.key("curator", "c", None);
    let matcher = store.key_with("matcher", "m", &["--show-distance"]);
    let photo = image::load_from_memory(&bridge("aaa-orig.jpg")).unwrap().to_rgb8();
    let (w, h) = photo.dimensions();
    let mut framed = image::RgbImage::from_pixel(w + 160, h + 100, image::Rgb([20, 20, 20]));
    image::imageops::replace(&mut framed, &photo, 80, 50);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&framed)
        .unwrap();
    for unframed in [true, false] {
        let s = Server::start(&store, if unframed { &["--match-unframed"] } else { &[] });
        let (st, hashed) = s.upload(Some(&matcher), "/v1/hash", bridge("aaa-orig.jpg"));
        assert_eq!(st, StatusCode::OK, "{hashed}");
        if unframed {
            s.send("POST", Some(&curator), "/v1/banks", &json!({"name": "HOTLINE"}));
            s.send(
                "POST",
                Some(&curator),
                "/v1/banks/HOTLINE/entries",
                &json!({"entries": [{"signal_type": "pdq", "value": hashed["pdq"]}]}),
            );
        }
        until("banked", || !s.matches(&matcher, hashed["pdq"].as_str().unwrap()).is_empty());
        let (st, u) = s.upload(Some(&matcher), "/v1/match/upload", jpeg.clone());
        assert_eq!(st, StatusCode::OK, "{u}");
        let m = u["matches"].as_array().unwrap();
        if unframed {
            assert_eq!(m.len(), 1, "{u}");
            assert_eq!(m[0]["transform"], "unframed", "{u}");
            assert!(m[0]["distance"].as_u64().unwrap() <= 10, "{u}");
            assert_eq!(u["hashes"]["frame"], json!([80, 50, 80, 50]), "{u}");
            assert!(u["hashes"]["quality_unframed"].as_u64().unwrap() >= 50, "{u}");
            let (_, plain) = s.upload(Some(&matcher), "/v1/match/upload", bridge("aaa-orig.jpg"));
            assert_eq!(plain["matches"][0]["distance"], 0, "{plain}");
            assert!(plain["matches"][0].get("transform").is_none(), "{plain}");
            assert!(plain["hashes"].get("frame").is_none(), "{plain}");
        } else {
            assert!(m.is_empty(), "{u}");
            assert!(
                u["hashes"].get("frame").is_none() && u["hashes"].get("pdq_unframed").is_none()
            );
        }
        s.stop();
    }
}
