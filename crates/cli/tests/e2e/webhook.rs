//! The case webhook end to end (the real binary on 127.0.0.1, SQLite and PostgreSQL): a decided
//! case is delivered, signed, to a receiver in this test (which answers 500 at first), retried
//! until it is taken, exactly once per case; a delivery pending at a restart is delivered after
//! it; bad flags are refused.
//!
//! Only 127.0.0.1 is connected to. Cases are made of generated signals.

use crate::server;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{until_within, Server, Store};

const SECRET: &str = "test-webhook-secret-0123456789";

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: HashMap<String, String>,
    body: String,
    answered: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A small HTTP receiver on 127.0.0.1: answers 500 to the first `fail_first` requests, and to
/// every request while `failing` is set; 200 otherwise. Records every request.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    failing: Arc<AtomicBool>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        {
            let (got, failing) = (got.clone(), failing.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    let Ok(mut conn) = conn else { continue };
                    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        continue;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    let mut headers = HashMap::new();
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                    let n: usize = headers["content-length"].parse().unwrap();
                    let mut body = vec![0; n];
                    reader.read_exact(&mut body).unwrap();
                    let nth = seen.fetch_add(1, Ordering::SeqCst);
                    let answered =
                        if nth < fail_first || failing.load(Ordering::SeqCst) { 500 } else { 200 };
                    got.lock().unwrap().push(Got {
                        path,
                        headers,
                        body: String::from_utf8(body).unwrap(),
                        answered,
                    });
                    let reason = if answered == 200 { "OK" } else { "Internal Server Error" };
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {answered} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            });
        }
        Receiver { port, got, failing }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Requests about case `id`.
    fn of_case(&self, id: i64) -> Vec<Got> {
        self.got().into_iter().filter(|g| g.json()["case_id"] == id).collect()
    }

    fn delivered(&self, id: i64) -> usize {
        self.of_case(id).iter().filter(|g| g.answered == 200).count()
    }
}

fn check_signed(g: &Got) {
    assert_eq!(g.path, "/hook");
    assert_eq!(g.headers["content-type"], "application/json");
    assert_eq!(g.headers["x-spoor-event"], "case.decided");
    let ts: i64 = g.headers["x-spoor-timestamp"].parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    assert!((now - ts).abs() < 120, "a current timestamp: {ts}");
    let sig = &g.headers["x-spoor-signature"];
    assert!(
        spoor_server::webhook::verify(SECRET.as_bytes(), ts, g.body.as_bytes(), sig),
        "the signature verifies: {g:?}"
    );
    assert!(!spoor_server::webhook::verify(b"another-secret-0123456", ts, g.body.as_bytes(), sig));
}

fn md5(n: u64) -> String {
    format!("{:032x}", 0x0011_2233_4455_6677_8899_aabb_ccdd_eeffu128 ^ u128::from(n))
}

/// Makes a signals-only case (user flag, an MD5) and decides it with the reviewer key.
fn decided_case(s: &Server, hoster: &str, reviewer: &str, n: u64) -> i64 {
    let body = json!({"meta": {"reason": "user_flag", "service": "photos",
            "content_ref": format!("https://photos.example/item-{n}"), "uploader_ref": "user-7"},
        "signals": {"md5": md5(n)}});
    let (st, v) = s.send("POST", Some(hoster), "/v1/cases", &body);
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["case"]["id"].as_i64().unwrap();
    assert_eq!(v["case"]["state"], "queued", "{v}");
    let decision = json!({"verdict": "confirm", "category": "baseline"});
    let (st, v) = s.send("POST", Some(reviewer), &format!("/v1/cases/{id}/decision"), &decision);
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "confirmed", "{v}");
    id
}

fn webhook_end_to_end(store: Store) {
    let media_key = store.dir.path().join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", media_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let media_dir = store.dir.path().join("media");
    let secret_file = store.dir.path().join("webhook.secret");
    std::fs::write(&secret_file, format!("  {SECRET}\n")).unwrap();
    let hoster = store.key("matcher", "hoster", None);
    let reviewer = store.key("reviewer", "rev", None);
    let rx = Receiver::start(1);
    let url = rx.url();
    let flags = [
        "--media-key-file",
        media_key.to_str().unwrap(),
        "--media-dir",
        media_dir.to_str().unwrap(),
        "--case-webhook",
        &url,
        "--case-webhook-secret-file",
        secret_file.to_str().unwrap(),
    ];
    let s = Server::start(&store, &flags);

    // An open case is told of nothing.
    let body = json!({"meta": {"reason": "user_flag"},
        "signals": {"md5": md5(999)}});
    let (st, v) = s.send("POST", Some(&hoster), "/v1/cases", &body);
    assert_eq!(st, StatusCode::CREATED, "{v}");

    // Decided: delivered after one 500 and a retry about a second later.
    let id = decided_case(&s, &hoster, &reviewer, 1);
    until_within("the delivery after a retry", Duration::from_secs(15), || rx.delivered(id) == 1);
    let got = rx.of_case(id);
    assert_eq!(got.iter().map(|g| g.answered).collect::<Vec<_>>(), [500, 200], "{got:?}");
    assert_eq!(
        got[0].headers["x-spoor-delivery"], got[1].headers["x-spoor-delivery"],
        "one delivery id for every attempt"
    );
    assert_eq!(got[0].body, got[1].body);
    for g in &got {
        check_signed(g);
    }
    let p = got[1].json();
    assert_eq!(p["event"], "case.decided");
    assert_eq!(p["case_id"], id);
    assert_eq!(p["state"], "confirmed");
    assert_eq!(p["resolution"], "review");
    assert_eq!(p["category"], "baseline");
    assert_eq!(p["content_ref"], "https://photos.example/item-1");
    assert_eq!(p["service"], "photos");
    assert_eq!(p["uploader_ref"], "user-7");
    assert_eq!(p["viewed_by_person"], false, "decided by a key, not a person");
    assert!(p["decided_at"].as_str().unwrap().ends_with('Z'), "{p}");
    assert!(!got[1].body.contains(&md5(1)), "never the hashes: {}", got[1].body);

    // Exactly once, also after waiting and after a refused second decision.
    let decision = json!({"verdict": "confirm", "category": "baseline"});
    let (st, _) = s.send("POST", Some(&reviewer), &format!("/v1/cases/{id}/decision"), &decision);
    assert_eq!(st, StatusCode::CONFLICT);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(rx.of_case(id).len(), 2, "{:?}", rx.of_case(id));
    assert_eq!(rx.got().len(), 2, "nothing about the open case");

    // Durable: a delivery pending when the service stops is delivered after it starts again.
    rx.failing.store(true, Ordering::SeqCst);
    let id2 = decided_case(&s, &hoster, &reviewer, 2);
    until_within("a failed attempt", Duration::from_secs(10), || !rx.of_case(id2).is_empty());
    s.stop();
    assert_eq!(rx.delivered(id2), 0);
    rx.failing.store(false, Ordering::SeqCst);
    let s = Server::start(&store, &flags);
    until_within("the delivery after the restart", Duration::from_secs(15), || {
        rx.delivered(id2) == 1
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rx.delivered(id2), 1);
    assert_eq!(rx.delivered(id), 1, "the first case is not sent again");
    for g in rx.of_case(id2) {
        check_signed(&g);
        assert_eq!(g.json()["content_ref"], "https://photos.example/item-2");
    }
    let metrics = s.http.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("spoor_webhook_deliveries_total{outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    s.stop();
}

#[test]
fn decided_cases_are_delivered_signed_once_and_durably_on_sqlite() {
    webhook_end_to_end(Store::sqlite());
}

#[test]
fn decided_cases_are_delivered_signed_once_and_durably_on_postgres() {
    if let Some(store) = Store::postgres() {
        webhook_end_to_end(store);
    }
}

#[test]
fn bad_webhook_flags_are_refused() {
    let store = Store::sqlite();
    let secret = store.dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let short = store.dir.path().join("short");
    std::fs::write(&short, "  too-short  \n").unwrap();
    let (secret, short) = (secret.to_str().unwrap(), short.to_str().unwrap());
    for (args, says) in [
        (
            vec!["--case-webhook", "ftp://127.0.0.1/hook", "--case-webhook-secret-file", secret],
            "http or https",
        ),
        (vec!["--case-webhook", "not a url", "--case-webhook-secret-file", secret], "not a URL"),
        (vec!["--case-webhook", "http://127.0.0.1:9/hook"], "--case-webhook-secret-file"),
        (vec!["--case-webhook-secret-file", secret], "--case-webhook"),
        (
            vec!["--case-webhook", "http://127.0.0.1:9/hook", "--case-webhook-secret-file", short],
            "at least 16",
        ),
    ] {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend(&args);
        let out = store.spoor(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was taken");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains(SECRET), "the secret is never shown: {err}");
    }
}
