//! Complaints end to end: the real binary on 127.0.0.1 with a provider's webhook, a test NCMEC
//! and a test EU Centre. A confirmed case is reported to both; the person affected complains
//! through the provider; the reviewer who confirmed the case is refused; another overturns:
//! the provider's restore webhook arrives (HMAC checked), the case is reversed and counted as
//! a false positive for its entry, the EU Centre gets a signed follow-up, and NCMEC's
//! follow-up waits for a person, who records it once. Bad complaints are refused with what is
//! wrong; a complaint past its deadline is counted overdue and recorded.
//!
//! Only 127.0.0.1 is connected to (the service resolves no name: `--reports-loopback-only`).

mod common;
#[path = "../src/bench_receivers.rs"]
mod receivers;
#[path = "support/server.rs"]
mod server;

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use receivers::{EuCentre, Ncmec, Recorder};
use server::{until_within, Server, Store};

const USER: &str = "spoor-test";
const PASSWORD: &str = "test-password-7";
const HOOK_SECRET: &str = "provider-webhook-secret-0123";

fn reports_file(dir: &Path, ncmec: &Ncmec, eu: &EuCentre) -> std::path::PathBuf {
    std::fs::write(dir.join("ncmec.credentials"), format!("{USER}:{PASSWORD}\n")).unwrap();
    let text = format!(
        r#"window_seconds = 0
workers = 2
backoff_seconds = 0.05
max_backoff_seconds = 0.2
timeout_seconds = 2

[ncmec]
credentials_file = "ncmec.credentials"
base_url = "{}"

[ncmec.reporter]
email = "reports@hoster.example"

[eu_centre]
url = "{}"
signing_key_file = "eu-signing.pem"
key_id = "spoor-test-1"

[eu_centre.provider]
name = "Hoster B.V."
address = "Keizersgracht 1, 1015 CC Amsterdam, NL"
contact_email = "eu-contact@hoster.example"
legal_basis = "Regulation (EU) 2021/1232"
"#,
        ncmec.base_url(),
        eu.url()
    );
    let path = dir.join("reports.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct World {
    store: Store,
    flags: Vec<String>,
    public_key: ed25519_dalek::VerifyingKey,
    admin: String,
    hoster: String,
    rita: String,
    sam: String,
    other: String,
    lead: String,
}

fn world(ncmec: &Ncmec, eu: &EuCentre, hook: &Recorder, deadline: &str) -> World {
    let store = Store::sqlite();
    let dir = store.dir.path().to_path_buf();
    let signing = dir.join("eu-signing.pem");
    let out = store.spoor(&["keys", "report-keygen", "--out", signing.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    let public_key =
        ed25519_dalek::VerifyingKey::from_public_key_pem(&String::from_utf8(out.stdout).unwrap())
            .unwrap();
    let secret = dir.join("hook.secret");
    std::fs::write(&secret, HOOK_SECRET).unwrap();
    let flags = vec![
        "--reports".to_string(),
        reports_file(&dir, ncmec, eu).display().to_string(),
        "--reports-loopback-only".into(),
        "--case-webhook".into(),
        hook.url(),
        "--case-webhook-secret-file".into(),
        secret.display().to_string(),
        "--complaint-deadline".into(),
        deadline.into(),
    ];
    World {
        admin: store.key("admin", "admin", None),
        hoster: store.key("matcher", "hoster", None),
        rita: store.key("reviewer", "rita", None),
        sam: store.key("reviewer", "sam", None),
        other: store.key("matcher", "other_service", None),
        lead: store.key("admin", "lead", None),
        store,
        flags,
        public_key,
    }
}

fn start(w: &World) -> Server {
    let flags: Vec<&str> = w.flags.iter().map(String::as_str).collect();
    Server::start(&w.store, &flags)
}

fn md5(n: u64) -> String {
    format!("{:032x}", 0x5eed_0000u128 + u128::from(n))
}

/// A bank whose matches need review, holding the MD5s of items 1 to 3.
fn bank(s: &Server, admin: &str) {
    let (st, v) = s.send(
        "POST",
        Some(admin),
        "/v1/banks",
        &json!({"name": "KNOWN", "review_required": true}),
    );
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let entries: Vec<Value> = (1..=3)
        .map(|n| json!({"signal_type": "md5", "value": md5(n), "category": "baseline"}))
        .collect();
    let (st, v) =
        s.send("POST", Some(admin), "/v1/banks/KNOWN/entries", &json!({"entries": entries}));
    assert_eq!(st, StatusCode::OK, "{v}");
    server::until("entries live", || {
        let (_, v) = s.get(Some(admin), &format!("/v1/match?signal_type=md5&value={}", md5(3)));
        v["matches"].as_array().is_some_and(|m| !m.is_empty())
    });
}

/// Submits item `n` (signals only) and returns the case.
fn case(s: &Server, hoster: &str, n: u64) -> Value {
    let body = json!({"meta": {"reason": "match", "service": "photos",
            "content_ref": format!("https://photos.example/item-{n}"), "uploader_ref": "user-7"},
        "signals": {"md5": md5(n)}});
    let (st, v) = s.send("POST", Some(hoster), "/v1/cases", &body);
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["case"]["state"], "queued", "{v}");
    v["case"].clone()
}

fn confirm(s: &Server, reviewer: &str, id: i64) {
    let d = json!({"verdict": "confirm", "category": "baseline"});
    let (st, v) = s.send("POST", Some(reviewer), &format!("/v1/cases/{id}/decision"), &d);
    assert_eq!(st, StatusCode::OK, "{v}");
}

fn metrics(s: &Server) -> String {
    s.http.get(s.url("/metrics")).send().unwrap().text().unwrap()
}

/// The value of the first `/metrics` line starting with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix))?.rsplit(' ').next()?.parse().ok()
}

/// Webhook bodies of `event`, each signature checked.
fn events(hook: &Recorder, event: &str) -> Vec<Value> {
    hook.events(event)
        .into_iter()
        .map(|(h, b)| {
            let ts: i64 = h["x-spoor-timestamp"].parse().unwrap();
            assert!(
                spoor_server::webhook::verify(
                    HOOK_SECRET.as_bytes(),
                    ts,
                    b.as_bytes(),
                    &h["x-spoor-signature"]
                ),
                "the provider can check every message"
            );
            serde_json::from_str(&b).unwrap()
        })
        .collect()
}

fn reports_of(s: &Server, admin: &str, case: i64) -> Vec<Value> {
    let (st, v) = s.get(Some(admin), "/v1/reports?limit=100");
    assert_eq!(st, StatusCode::OK, "{v}");
    v["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["cases"].as_array().unwrap().iter().any(|c| c == case))
        .cloned()
        .collect()
}

/// The whole path of an overturn, with the refusals on the way.
#[test]
fn an_overturn_restores_reverses_counts_and_follows_up() {
    let (ncmec, eu, hook) = (Ncmec::start(USER, PASSWORD), EuCentre::start(), Recorder::start());
    let w = world(&ncmec, &eu, &hook, "7d");
    let s = start(&w);
    bank(&s, &w.admin);
    let c1 = case(&s, &w.hoster, 1);
    let id = c1["id"].as_i64().unwrap();
    let entry = c1["matches"][0]["entry_id"].as_i64().unwrap();
    let open = case(&s, &w.hoster, 2)["id"].as_i64().unwrap();
    confirm(&s, &w.rita, id);
    until_within("both reports finished", Duration::from_secs(20), || {
        let r = reports_of(&s, &w.admin, id);
        r.len() == 2 && r.iter().all(|r| r["state"] == "finished")
    });
    let reports = reports_of(&s, &w.admin, id);
    let eu_report = reports.iter().find(|r| r["recipient"] == "eu_centre").unwrap().clone();
    let ncmec_report = reports.iter().find(|r| r["recipient"] == "ncmec").unwrap().clone();
    let eu_before = eu.with(|st| st.by_key.len());

    // Bad complaints say what is wrong.
    let post = |body: &Value| s.send("POST", Some(&w.hoster), "/v1/complaints", body);
    let good =
        json!({"case_id": id, "complainant": "user-7", "text": "My own photo.\nPlease check."});
    for (body, status, says) in [
        (json!({"complainant": "user-7", "text": "t"}), 400, "case_id or by content_ref"),
        (
            json!({"case_id": id, "content_ref": "x", "complainant": "u", "text": "t"}),
            400,
            "one of the two",
        ),
        (json!({"case_id": id, "complainant": "u", "text": "t", "urgent": true}), 400, "urgent"),
        (json!({"case_id": id, "complainant": "u", "text": "  \n "}), 400, "text"),
        (json!({"case_id": id, "complainant": "", "text": "t"}), 400, "complainant"),
        (json!({"case_id": id, "complainant": "u", "text": "bell\u{7}"}), 400, "control"),
        (json!({"case_id": 99_999, "complainant": "u", "text": "t"}), 404, "no case"),
        (
            json!({"content_ref": "https://photos.example/none", "complainant": "u", "text": "t"}),
            404,
            "content_ref",
        ),
        (json!({"case_id": open, "complainant": "u", "text": "t"}), 409, "no decision"),
    ] {
        let (st, v) = post(&body);
        assert_eq!(st.as_u16(), status, "{body}: {v}");
        let m = v["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains(says), "{body}: {m}");
    }
    let raw = s
        .http
        .post(s.url("/v1/complaints"))
        .bearer_auth(&w.hoster)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let (st, _) = s.send("POST", Some(&w.rita), "/v1/complaints", &good);
    assert_eq!(st, StatusCode::FORBIDDEN, "reviewer keys do not file complaints");

    // Filed by the provider's own reference of the content.
    let (st, k) = post(&json!({"content_ref": "https://photos.example/item-1",
        "complainant": "user-7", "text": "My own photo.\nPlease check."}));
    assert_eq!(st, StatusCode::CREATED, "{k}");
    assert_eq!((k["case_id"].as_i64(), k["state"].as_str()), (Some(id), Some("open")));
    assert_eq!(k["overdue"], false);
    let kid = k["id"].as_i64().unwrap();
    let (st, v) = post(&good);
    assert_eq!(st, StatusCode::CONFLICT, "one open complaint per case: {v}");
    let (st, _) = s.get(Some(&w.other), &format!("/v1/complaints/{kid}"));
    assert_eq!(st, StatusCode::NOT_FOUND, "another service's complaint is not shown");
    let (st, v) = s.get(Some(&w.hoster), &format!("/v1/complaints/{kid}"));
    assert_eq!((st, v["text"].as_str()), (StatusCode::OK, Some("My own photo.\nPlease check.")));

    // The reviewer who confirmed the case may not decide the complaint.
    let path = format!("/v1/complaints/{kid}/decision");
    let overturn = json!({"outcome": "overturned", "reason": "A landscape.", "entry_id": entry});
    let (st, v) = s.send("POST", Some(&w.rita), &path, &overturn);
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("took part"), "{v}");
    for (body, status) in [
        (json!({"outcome": "maybe", "reason": "r"}), 400),
        (json!({"outcome": "overturned", "reason": "r"}), 409),
        (json!({"outcome": "overturned", "reason": "r", "entry_id": 777}), 409),
        (json!({"outcome": "overturned", "reason": " ", "entry_id": entry}), 400),
        (json!({"outcome": "upheld", "reason": "r", "extra": 1}), 400),
    ] {
        let (st, v) = s.send("POST", Some(&w.sam), &path, &body);
        assert_eq!(st.as_u16(), status, "{body}: {v}");
    }
    let (st, v) = s.send("POST", Some(&w.sam), "/v1/complaints/4242/decision", &overturn);
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, v) = s.get(Some(&w.admin), &format!("/v1/complaints/{kid}"));
    assert_eq!(v["state"], "open", "refusals change nothing: {st} {v}");

    let (st, v) = s.send("POST", Some(&w.sam), &path, &overturn);
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!((v["state"].as_str(), v["entry_id"].as_i64()), (Some("overturned"), Some(entry)));
    let (st, v) = s.send("POST", Some(&w.sam), &path, &overturn);
    assert_eq!(st, StatusCode::CONFLICT, "decided once: {v}");

    // The case is reversed, a false positive on complaint for its entry.
    let (_, c) = s.get(Some(&w.admin), &format!("/v1/cases/{id}"));
    assert_eq!(c["state"], "false_positive", "{c}");
    assert_eq!(c["reversed"]["complaint_id"], kid);
    assert_eq!(c["reversed"]["by"], "key:sam");
    // The provider is told to restore the content, and of the outcome, signed.
    until_within("the restore webhook", Duration::from_secs(10), || {
        !events(&hook, "case.restore").is_empty() && !events(&hook, "complaint.decided").is_empty()
    });
    let restore = &events(&hook, "case.restore")[0];
    assert_eq!(restore["case_id"], id);
    assert_eq!(restore["content_ref"], "https://photos.example/item-1");
    assert_eq!(restore["complaint_id"], kid);
    let told = &events(&hook, "complaint.decided")[0];
    assert_eq!(
        (told["outcome"].as_str(), told["complainant"].as_str()),
        (Some("overturned"), Some("user-7"))
    );
    assert_eq!(told["reason"], "A landscape.");
    // The EU Centre gets a signed follow-up naming its report.
    until_within("the EU Centre follow-up", Duration::from_secs(10), || {
        eu.with(|st| st.by_key.len()) == eu_before + 1
    });
    let (body, jws) = eu.with(|st| {
        let fresh: Vec<_> = st
            .by_key
            .values()
            .filter_map(|v| {
                let doc: Value = serde_json::from_str(&v[0].0).ok()?;
                (doc["kind"] == "reversed_on_complaint").then(|| v[0].clone())
            })
            .collect();
        assert_eq!(fresh.len(), 1);
        fresh[0].clone()
    });
    spoor_report::eu::verify(body.as_bytes(), &jws, &w.public_key).expect("signed");
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["report_id"], eu_report["uuid"]);
    assert_eq!(doc["withdrawn"][0]["case_id"], id);
    assert_eq!(doc["withdrawn"][0]["hashes"]["md5"], md5(1));
    assert_eq!(doc["report_withdrawn"], true);
    // NCMEC's follow-up waits for a person, who records it once.
    let (st, v) = s.get(Some(&w.admin), "/v1/follow-ups?pending=true");
    assert_eq!(st, StatusCode::OK, "{v}");
    let list = v["follow_ups"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    let f = &list[0];
    assert_eq!((f["recipient"].as_str(), f["how"].as_str()), (Some("ncmec"), Some("by_hand")));
    assert_eq!(f["details"]["receiver_report_id"], ncmec_report["remote_id"]);
    assert_eq!(f["details"]["hashes"]["md5"], md5(1));
    let fid = f["id"].as_i64().unwrap();
    let done = format!("/v1/follow-ups/{fid}/done");
    let (st, _) = s.send("POST", Some(&w.sam), &done, &json!({"note": "x"}));
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) =
        s.send("POST", Some(&w.admin), &done, &json!({"note": "emailed NCMEC, ticket 8812"}));
    assert_eq!((st, v["state"].as_str()), (StatusCode::OK, Some("done")), "{v}");
    let (st, _) = s.send("POST", Some(&w.admin), &done, &json!({"note": "again"}));
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, v) = s.get(Some(&w.admin), "/v1/follow-ups");
    assert_eq!(v["follow_ups"].as_array().unwrap().len(), 2, "{st} {v}");

    // Counted: the entry's false positive on complaint, the complaint's outcome.
    until_within("the gauges", Duration::from_secs(15), || {
        let m = metrics(&s);
        metric(&m, "spoor_complaints{state=\"overturned\"}") == Some(1.0)
            && m.lines().any(|l| {
                l.starts_with("spoor_case_outcomes")
                    && l.contains("outcome=\"false_positive_on_complaint\"")
                    && l.ends_with(" 1")
            })
    });
    let m = metrics(&s);
    assert!(m.contains("spoor_complaint_decision_seconds"), "time to decision is measured");
    let (_, a) = s.get(Some(&w.admin), "/v1/audit?limit=1000");
    let actions: Vec<&str> =
        a["records"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    for want in ["complaint_create", "complaint_decide", "follow_up_done"] {
        assert_eq!(actions.iter().filter(|a| **a == want).count(), 1, "{want}: {actions:?}");
    }
    let text = a.to_string();
    assert!(!text.contains("Please check"), "the complainant's words stay out of the audit log");

    // The statistics of the day say the same, with the error rate's uncertainty.
    let today = spoor_bank::model::format_time(spoor_bank::model::now_ms())[..10].to_string();
    let (st, v) = s.get(Some(&w.admin), &format!("/v1/statistics?from={today}&to={today}"));
    assert_eq!(st, StatusCode::OK, "{v}");
    let md5_rows: Vec<&Value> =
        v["cases"].as_array().unwrap().iter().filter(|r| r["technology"] == "md5").collect();
    let sum = |f: &str| md5_rows.iter().map(|r| r[f].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("made"), sum("open"), sum("false_positive_complaint")), (2, 1, 1), "{v}");
    let rate = v["error_rates"].as_array().unwrap().iter().find(|r| r["technology"] == "md5");
    let rate = rate.unwrap();
    assert_eq!((rate["decisions"].as_u64(), rate["false_positives"].as_u64()), (Some(1), Some(1)));
    assert!(rate["ci_low"].as_f64().unwrap() > 0.2 && rate["ci_high"] == 1.0, "{rate}");
    let filed: u64 =
        v["complaints"].as_array().unwrap().iter().map(|c| c["filed"].as_u64().unwrap()).sum();
    assert_eq!(filed, 1);
    let finished: u64 =
        v["reports"].as_array().unwrap().iter().map(|r| r["finished"].as_u64().unwrap()).sum();
    assert_eq!(finished, 2, "one to NCMEC, one to the EU Centre: {v}");
    assert_eq!(v["to_decision"]["count"], 1);
    let (st, _) = s.get(Some(&w.hoster), &format!("/v1/statistics?from={today}&to={today}"));
    assert_eq!(st, StatusCode::FORBIDDEN, "matcher keys read no statistics");
    let (st, _) = s.get(Some(&w.admin), "/v1/statistics?from=2026-13-01&to=2026-12-31");
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, v2) = s.get(Some(&w.admin), "/v1/statistics?from=2020-01-01&to=2030-12-31");
    assert_eq!((st, &v2["days"]), (StatusCode::OK, &v["days"]), "a long period holds the same");
    let (st, v3) = s.get(Some(&w.admin), "/v1/statistics?from=2026-12-31&to=2026-01-01");
    assert_eq!(st, StatusCode::OK, "an empty period: {v3}");
    assert!(v3["cases"].as_array().unwrap().is_empty());
    s.stop();
}

/// A complaint left past the deadline is counted overdue, shown so, and recorded once; an
/// upheld complaint changes nothing but is told; a second complaint about the same case
/// excludes whoever decided the first.
#[test]
fn overdue_complaints_are_counted_and_upheld_ones_change_nothing() {
    let (ncmec, eu, hook) = (Ncmec::start(USER, PASSWORD), EuCentre::start(), Recorder::start());
    let w = world(&ncmec, &eu, &hook, "2s");
    let s = start(&w);
    bank(&s, &w.admin);
    let id = case(&s, &w.hoster, 3)["id"].as_i64().unwrap();
    confirm(&s, &w.rita, id);
    let (st, k) = s.send(
        "POST",
        Some(&w.hoster),
        "/v1/complaints",
        &json!({"case_id": id, "complainant": "user-9", "text": "Not me."}),
    );
    assert_eq!(st, StatusCode::CREATED, "{k}");
    let kid = k["id"].as_i64().unwrap();
    until_within("overdue", Duration::from_secs(20), || {
        metric(&metrics(&s), "spoor_complaints_overdue") == Some(1.0)
    });
    let (_, v) = s.get(Some(&w.admin), &format!("/v1/complaints/{kid}"));
    assert_eq!(v["overdue"], true, "{v}");
    let (_, a) = s.get(Some(&w.admin), "/v1/audit?action=complaints_overdue&limit=10");
    assert_eq!(a["records"].as_array().unwrap().len(), 1, "recorded once: {a}");
    let (st, v) = s.get(Some(&w.admin), "/v1/complaints?state=open");
    assert_eq!((st, v["complaints"].as_array().unwrap().len()), (StatusCode::OK, 1), "{v}");
    let (st, _) = s.get(Some(&w.admin), "/v1/complaints?state=lost");
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let upheld = json!({"outcome": "upheld", "reason": "The content is what was decided."});
    let (st, v) = s.send("POST", Some(&w.sam), &format!("/v1/complaints/{kid}/decision"), &upheld);
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, c) = s.get(Some(&w.admin), &format!("/v1/cases/{id}"));
    assert_eq!(c["state"], "confirmed");
    assert!(c.get("reversed").is_none(), "{c}");
    until_within("the outcome told", Duration::from_secs(10), || {
        events(&hook, "complaint.decided").iter().any(|e| e["outcome"] == "upheld")
    });
    assert!(events(&hook, "case.restore").is_empty(), "nothing to restore");
    let (st, _) = s.get(Some(&w.admin), "/v1/follow-ups?pending=true");
    assert_eq!(st, StatusCode::OK);

    let (st, again) = s.send(
        "POST",
        Some(&w.hoster),
        "/v1/complaints",
        &json!({"case_id": id, "complainant": "user-9", "text": "Please look once more."}),
    );
    assert_eq!(st, StatusCode::CREATED, "{again}");
    let path = format!("/v1/complaints/{}/decision", again["id"]);
    let (st, _) = s.send("POST", Some(&w.sam), &path, &upheld);
    assert_eq!(st, StatusCode::FORBIDDEN, "sam decided the first complaint");
    let (st, v) = s.send("POST", Some(&w.lead), &path, &upheld);
    assert_eq!(st, StatusCode::OK, "{v}");
    s.stop();
}
