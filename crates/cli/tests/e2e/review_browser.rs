//! Review in a real headless Chromium against the real `spoor serve` on 127.0.0.1: a case made
//! through the API waits in the queue; a reviewer set up and logged in through the browser
//! takes it with "Review next"; the picture the page shows, read back from the browser, is
//! greyscale, at most 320 px and blurred; one reveal step sharpens it and is audited (and a
//! colour reveal is seen as colour); a second
//! reviewer never gets the held case; the decision form, used from the keyboard, confirms it
//! with a classification; the submitter's webhook receives the signed decision. Screenshots of
//! the queue, the case and the decision go to `target/console-screenshots/review-*.png`, and
//! each review page passes the console's accessibility checks.
//!
//! Without Chromium the test is skipped with a notice, unless `SPOOR_REQUIRE_BROWSER=1` (as in
//! the test command), when it fails.

use crate::browser;
use crate::common;
use crate::server;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use browser::{browser_setup, chromedriver, code, unix, Browser};
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{until_within, Server, Store};

const PASSWORD: &str = "plum tractor seventeen";
const SECRET: &str = "review-webhook-secret-0123456789";

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: HashMap<String, String>,
    body: String,
}

/// The submitter's webhook receiver on 127.0.0.1: records every request, answers 200.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let kept = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
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
                headers.insert(":path".into(), line.split(' ').nth(1).unwrap_or("").into());
                kept.lock().unwrap().push(Got { headers, body: String::from_utf8(body).unwrap() });
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver { port, got }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// The requests about case `id`.
    fn of_case(&self, id: i64) -> Vec<Got> {
        let got = self.got.lock().unwrap();
        got.iter()
            .filter(|g| serde_json::from_str::<Value>(&g.body).unwrap()["case_id"] == id)
            .cloned()
            .collect()
    }
}

/// A 640×480 PNG with strong fine detail: coloured 40-pixel blocks (for a stable PDQ) under
/// 4-pixel cells of noise of ±64, the same for the same seed.
fn textured(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let blocks: Vec<[u8; 3]> = (0..16 * 12)
        .map(|_| {
            let v = next();
            [v as u8, (v >> 8) as u8, (v >> 16) as u8].map(|c| 64 + c / 2)
        })
        .collect();
    let noise: Vec<i16> = (0..160 * 120).map(|_| (next() % 129) as i16 - 64).collect();
    let img = image::RgbImage::from_fn(640, 480, |px, py| {
        let b = blocks[(py / 40 * 16 + px / 40) as usize];
        let n = noise[(py / 4 * 160 + px / 4) as usize];
        image::Rgb(b.map(|c| (i16::from(c) + n).clamp(0, 255) as u8))
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Submits `bytes` as a case through the API; the case as answered.
fn submit_case(s: &Server, key: &str, bytes: &[u8], item: &str) -> Value {
    let meta = json!({"reason": "match", "service": "photos", "uploader_ref": "user-7",
                      "content_ref": format!("https://photos.example/{item}")});
    let form = reqwest::blocking::multipart::Form::new()
        .text("meta", meta.to_string())
        .part("file", reqwest::blocking::multipart::Part::bytes(bytes.to_vec()).file_name("x.png"));
    let r = s.http.post(s.url("/v1/cases")).bearer_auth(key).multipart(form).send().unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().unwrap()["case"].clone()
}

/// The store's audit log: `(actor_kind:actor, action, object_id, details)`, oldest first.
fn audit(store: &Store) -> Vec<(String, String, String, String)> {
    let st = spoor_bank::open(&spoor_bank::Location::DataDir(store.value.clone().into())).unwrap();
    st.audit_records(&spoor_bank::AuditQuery::after(0, 10_000))
        .unwrap()
        .into_iter()
        .map(|r| (format!("{}:{}", r.actor_kind, r.actor), r.action, r.object_id, r.details))
        .collect()
}

/// The grey plane of a picture the browser showed, after checking that every pixel is opaque
/// grey (R = G = B).
fn grey_plane(shown: &image::RgbaImage) -> image::GrayImage {
    let coloured = shown.pixels().filter(|p| !(p[0] == p[1] && p[1] == p[2])).count();
    assert_eq!(coloured, 0, "greyscale: R = G = B in every pixel");
    assert!(shown.pixels().all(|p| p[3] == 255), "opaque");
    image::GrayImage::from_fn(shown.width(), shown.height(), |x, y| {
        image::Luma([shown.get_pixel(x, y)[0]])
    })
}

/// Sets a person up and logs them in through the browser.
fn log_in(b: &Browser, store: &Store, base: &str, name: &str) {
    let link = store.person(name, "reviewer", base);
    let secret = browser_setup(b, &link, name, PASSWORD, false);
    b.login(base, name, PASSWORD, &code(&secret, unix() + 30));
    assert_eq!(b.path(), "/", "{}", b.text());
}

/// The number waiting in the main queue, as the review page shows it.
fn waiting(b: &Browser) -> String {
    b.eval("return document.querySelector('#next-main').closest('tr').cells[1].textContent.trim();")
        .as_str()
        .unwrap()
        .to_string()
}

/// Scrolls the element `css` into the middle of the window (for a screenshot).
fn show(b: &Browser, css: &str) {
    let css = serde_json::to_string(css).unwrap();
    b.script(&format!("document.querySelector({css}).scrollIntoView({{block: 'center'}});"));
}

/// Asserts the page shown passes the accessibility checks.
fn accessible(b: &Browser) {
    let problems = b.accessibility_problems();
    assert!(problems.is_empty(), "{}: {problems:?}", b.path());
}

#[test]
fn a_reviewer_reviews_a_case_in_the_browser() {
    let Some(driver) = chromedriver() else { return };
    let store = Store::sqlite();
    let media_key = store.dir.path().join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", media_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secret_file = store.dir.path().join("webhook.secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let admin = store.key("admin", "admin", None);
    let hoster = store.key("matcher", "hoster", None);
    let rx = Receiver::start();
    let s = Server::start(
        &store,
        &[
            "--media-key-file",
            media_key.to_str().unwrap(),
            "--case-webhook",
            &rx.url(),
            "--case-webhook-secret-file",
            secret_file.to_str().unwrap(),
            "--login-attempts-per-minute",
            "100",
        ],
    );
    let base = s.base.clone();

    // Two pictures, each banked as a baseline PDQ 20 bits away: past the bank's automatic
    // confirmation (10), within its radius (31), so each goes to the review queue.
    let (pic_a, pic_b) = (textured(31), common::picture(32, 0));
    let pdq = |bytes: &[u8]| -> String {
        let (st, v) = s.upload(Some(&admin), "/v1/hash", bytes.to_vec());
        assert_eq!(st, StatusCode::OK, "{v}");
        assert!(v["quality"].as_u64().unwrap() >= 50, "a PDQ of quality: {v}");
        v["pdq"].as_str().unwrap().to_string()
    };
    let (pdq_a, pdq_b) = (pdq(&pic_a), pdq(&pic_b));
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks", &json!({"name": "HOTLINE"}));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let entries = json!({"entries": [
        {"signal_type": "pdq", "value": common::flip(&pdq_a, 20), "category": "baseline", "verified_by": "a"},
        {"signal_type": "pdq", "value": common::flip(&pdq_b, 20), "category": "baseline", "verified_by": "a"},
    ]});
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks/HOTLINE/entries", &entries);
    assert_eq!(st, StatusCode::OK, "{v}");
    server::until("entries live", || s.matches(&admin, &pdq_b).len() == 1);

    // 1. A case made through the API waits in the queue.
    let case_a = submit_case(&s, &hoster, &pic_a, "item-a");
    assert_eq!(case_a["state"], "queued", "{case_a}");
    let id_a = case_a["id"].as_i64().unwrap();
    let (_, c) = s.get(Some(&admin), &format!("/v1/cases/{id_a}"));
    assert_eq!(c["matches"][0]["distance"], 20, "{c}");

    // 2. Rita logs in through the browser and takes it with "Review next".
    let b1 = Browser::start(&driver);
    log_in(&b1, &store, &base, "rita");
    b1.go(&format!("{base}/review"));
    assert!(b1.text().contains("Review next in main"), "{}", b1.text());
    assert_eq!(waiting(&b1), "1", "the case waits");
    assert!(b1.text_of("#exposure").contains("seen 0 items"), "{}", b1.text());
    b1.shot("review-queue");
    accessible(&b1);
    b1.press_enter("#next-main");
    assert_eq!(b1.path(), format!("/cases/{id_a}"), "{}", b1.text());
    let t = b1.text();
    assert!(t.contains("https://photos.example/item-a") && t.contains("HOTLINE"), "{t}");
    assert!(t.contains("user:rita until"), "held by rita: {t}");

    // 3. The picture the page shows: at most 320 px, grey, and blurred far below the detail
    // of the original at the same size.
    let img = "figure.rendition img";
    let shown = b1.shown_image(img);
    assert_eq!(shown.dimensions(), (320, 240), "fitted into 320 px, aspect kept");
    let blurred = grey_plane(&shown);
    let original = image::load_from_memory(&pic_a).unwrap().to_luma8();
    let original = image::imageops::resize(
        &original,
        shown.width(),
        shown.height(),
        image::imageops::FilterType::Triangle,
    );
    let (e_orig, e4) = (common::energy(&original), common::energy(&blurred));
    let threshold = e_orig / 4.0;
    eprintln!("energy: original {e_orig:.1}, threshold {threshold:.1}, shown {e4:.1}");
    assert!(e_orig > 500.0, "the original has strong fine detail: {e_orig}");
    assert!(e_orig >= threshold, "the original itself would fail the check");
    assert!(e4 < threshold, "blurred: {e4} < {threshold}");
    show(&b1, "figure.rendition");
    b1.shot("review-case-blurred");
    accessible(&b1);

    // 4. One step less blur: recorded, and the next picture is sharper, still grey.
    assert!(b1.text().contains("blur level 4 of 4, greyscale"), "{}", b1.text());
    b1.press_enter("#less-blur");
    assert_eq!(b1.path(), format!("/cases/{id_a}"));
    assert!(b1.text().contains("blur level 3 of 4, greyscale"), "{}", b1.text());
    let e3 = common::energy(&grey_plane(&b1.shown_image(img)));
    eprintln!("energy after one reveal step: {e3:.1}");
    assert!(e3 > e4, "less blur: {e3} > {e4}");
    assert!(e3 < e_orig, "still blurred: {e3} < {e_orig}");
    let reveals: Vec<_> = audit(&store)
        .into_iter()
        .filter(|r| r.1 == "case_reveal" && r.2 == id_a.to_string())
        .collect();
    assert_eq!(reveals.len(), 1, "{reveals:?}");
    assert_eq!(reveals[0].0, "user:rita");
    assert!(reveals[0].3.contains("\"blur\":3") && reveals[0].3.contains("\"colour\":false"));
    let exposure = b1.text_of("#exposure");
    assert!(exposure.contains("seen 1 item and made 1 reveal"), "{exposure}");
    show(&b1, "figure.rendition");
    b1.shot("review-case-less-blur");
    // Colour, revealed on purpose: recorded as well, and the same reading of the page now
    // finds colour in most pixels (the greyscale check reads what is shown).
    b1.press_enter("#colour");
    assert!(b1.text().contains("blur level 3 of 4, colour"), "{}", b1.text());
    let coloured = b1.shown_image(img);
    let n = coloured.pixels().filter(|p| !(p[0] == p[1] && p[1] == p[2])).count();
    assert!(n > coloured.pixels().len() / 2, "colour shown: {n} pixels not grey");
    let reveals: Vec<_> = audit(&store)
        .into_iter()
        .filter(|r| r.1 == "case_reveal" && r.2 == id_a.to_string())
        .collect();
    assert_eq!(reveals.len(), 2, "{reveals:?}");
    assert!(reveals[1].3.contains("\"blur\":3") && reveals[1].3.contains("\"colour\":true"));
    let exposure = b1.text_of("#exposure");
    assert!(exposure.contains("seen 1 item and made 2 reveals"), "{exposure}");

    // 5. While rita holds the case, Ravi does not get it: the queue is empty for him; the
    // case's page and picture are closed to him; a new case goes to him, not hers.
    let b2 = Browser::start(&driver);
    log_in(&b2, &store, &base, "ravi");
    b2.go(&format!("{base}/review"));
    b2.click("#next-main");
    assert_eq!(b2.path(), "/review?done=empty", "{}", b2.text());
    assert!(b2.text().contains("The queue is empty"), "{}", b2.text());
    b2.shot("review-nothing-for-another");
    accessible(&b2);
    b2.go(&format!("{base}/cases/{id_a}"));
    assert!(b2.text().contains("You do not hold this case"), "{}", b2.text());
    assert_eq!(b2.eval("return document.querySelectorAll('main img').length;"), json!(0));
    accessible(&b2);
    b2.go(&format!("{base}/cases/{id_a}/rendition"));
    assert!(b2.text().contains("Page not found"), "{}", b2.text());
    let case_b = submit_case(&s, &hoster, &pic_b, "item-b");
    assert_eq!(case_b["state"], "queued", "{case_b}");
    let id_b = case_b["id"].as_i64().unwrap();
    b2.go(&format!("{base}/review"));
    b2.click("#next-main");
    assert_eq!(b2.path(), format!("/cases/{id_b}"), "{}", b2.text());
    b2.close();

    // 6. Rita confirms with a classification, from the keyboard: the radio button and the
    // annotation boxes with the space bar, the note typed, Enter to submit.
    b1.keys("#verdict-confirm", " ");
    b1.select("#category", "national");
    b1.select("#industry_class", "A1");
    b1.keys("#ann-generativeAi", " ");
    b1.keys("#ann-possibleSelfProduction", " ");
    b1.fill("#note", "matches the national list");
    b1.shot("review-decision-form");
    b1.press_enter("#note");
    assert_eq!(b1.path(), format!("/review?done=decided&case={id_a}"), "{}", b1.text());
    assert!(b1.text().contains(&format!("Case {id_a} was decided and recorded")));
    b1.shot("review-decided");
    accessible(&b1);
    b1.go(&format!("{base}/cases/{id_a}"));
    let t = b1.text();
    assert!(t.contains("This case is decided (confirmed)"), "{t}");
    assert!(
        t.contains(
            "user:rita — confirm, national, A1, generativeAi, possibleSelfProduction: \
             matches the national list"
        ),
        "the decision as recorded: {t}"
    );
    assert_eq!(b1.eval("return document.querySelectorAll('main img').length;"), json!(0));
    b1.shot("review-case-decided");
    accessible(&b1);
    b1.close();

    let (st, c) = s.get(Some(&admin), &format!("/v1/cases/{id_a}"));
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(
        (&c["state"], &c["resolution"], &c["category"], &c["industry_class"]),
        (&json!("confirmed"), &json!("review"), &json!("national"), &json!("A1")),
        "{c}"
    );
    assert_eq!(c["annotations"], json!(["generativeAi", "possibleSelfProduction"]), "{c}");
    assert_eq!((&c["decided_by"], &c["viewed_by_person"]), (&json!("user:rita"), &json!(true)));
    assert_eq!(c["decisions"][0]["note"], "matches the national list", "{c}");
    let (_, c) = s.get(Some(&admin), &format!("/v1/cases/{id_b}"));
    assert_eq!(c["state"], "queued", "ravi's case is still open: {c}");

    // 7. The submitter's webhook receives the decision, signed.
    until_within("the signed decision", Duration::from_secs(15), || !rx.of_case(id_a).is_empty());
    let got = rx.of_case(id_a);
    assert_eq!(got.len(), 1, "{got:?}");
    let g = &got[0];
    assert_eq!(
        (g.headers[":path"].as_str(), g.headers["x-spoor-event"].as_str()),
        ("/hook", "case.decided")
    );
    let ts: i64 = g.headers["x-spoor-timestamp"].parse().unwrap();
    assert!((ts - unix() as i64).abs() < 120, "a current timestamp: {ts}");
    let sig = &g.headers["x-spoor-signature"];
    assert!(
        spoor_server::webhook::verify(SECRET.as_bytes(), ts, g.body.as_bytes(), sig),
        "HMAC-SHA256 with the shared secret: {g:?}"
    );
    assert!(!spoor_server::webhook::verify(b"another-secret-0123456", ts, g.body.as_bytes(), sig));
    let tampered = g.body.replace("confirmed", "false_positive");
    assert!(!spoor_server::webhook::verify(SECRET.as_bytes(), ts, tampered.as_bytes(), sig));
    let p: Value = serde_json::from_str(&g.body).unwrap();
    assert_eq!(
        (&p["case_id"], &p["state"], &p["category"], &p["industry_class"]),
        (&json!(id_a), &json!("confirmed"), &json!("national"), &json!("A1")),
        "{p}"
    );
    assert_eq!(p["content_ref"], "https://photos.example/item-a");
    assert_eq!(p["viewed_by_person"], true);
    assert!(rx.of_case(id_b).is_empty(), "nothing about the open case");

    // The record: rita claimed, saw three pictures and revealed twice; ravi never saw hers.
    let log = audit(&store);
    let did = |who: &str, action: &str, id: i64| {
        log.iter().filter(|r| r.0 == who && r.1 == action && r.2 == id.to_string()).count()
    };
    assert_eq!(did("user:rita", "case_claim", id_a), 1);
    assert_eq!(did("user:rita", "case_rendition", id_a), 3);
    assert_eq!(did("user:rita", "case_reveal", id_a), 2);
    assert_eq!(did("user:rita", "case_decide", id_a), 1);
    assert_eq!(did("user:ravi", "case_claim", id_a), 0);
    assert_eq!(did("user:ravi", "case_rendition", id_a), 0, "ravi never saw rita's case");
    assert_eq!(did("user:ravi", "case_claim", id_b), 1);
    s.stop();
}
