//! Cases through the API, end to end (the real binary on 127.0.0.1, SQLite and PostgreSQL):
//! what makes a case and what does not, auto-confirmation of known material without holding
//! it, the review queue holding content encrypted, never viewing decided content twice,
//! signals-only cases decided by a reviewer key, who may read what, and bad input.
//!
//! Images are generated here (blocks of colour); nothing else is used.

use crate::common;
use crate::server;

use common::{distance, flip, picture};
use reqwest::blocking::multipart;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{Server, Store};

fn hashes(s: &Server, key: &str, bytes: &[u8]) -> Value {
    let (st, v) = s.upload(Some(key), "/v1/hash", bytes.to_vec());
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

fn submit(s: &Server, key: &str, file: Option<&[u8]>, meta: &Value) -> (StatusCode, Value) {
    let mut form = multipart::Form::new().text("meta", meta.to_string());
    if let Some(f) = file {
        form = form.part("file", multipart::Part::bytes(f.to_vec()).file_name("upload"));
    }
    let resp = s.http.post(s.url("/v1/cases")).bearer_auth(key).multipart(form).send().unwrap();
    let status = resp.status();
    (status, resp.json().unwrap_or(Value::Null))
}

fn meta(reason: &str, item: &str) -> Value {
    json!({
        "reason": reason,
        "service": "photos",
        "content_ref": format!("https://photos.example/{item}"),
        "uploader_ref": "user-77",
        "uploaded_at": "2026-11-30T10:00:00Z",
        "upload_ip": "192.0.2.7",
    })
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
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
    out
}

fn cases_through_the_api(store: Store) {
    let media_key = store.dir.path().join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", media_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let media_dir = store.dir.path().join("media");
    let admin = store.key("admin", "admin", None);
    let hoster = store.key("matcher", "hoster", None);
    let other = store.key("matcher", "other-hoster", None);
    let reviewer = store.key("reviewer", "rev", None);
    let hasher = store.key("hasher", "hasher", None);
    let s = Server::start(
        &store,
        &[
            "--media-key-file",
            media_key.to_str().unwrap(),
            "--media-dir",
            media_dir.to_str().unwrap(),
        ],
    );
    let (known, queued, fresh) = (picture(1, 0), picture(2, 0), picture(3, 0));
    let (hk, hq, _) =
        (hashes(&s, &admin, &known), hashes(&s, &admin, &queued), hashes(&s, &admin, &fresh));
    let pdq_q = hq["pdq"].as_str().unwrap();
    assert!(distance(hk["pdq"].as_str().unwrap(), pdq_q) > 40, "generated pictures differ");
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks", &json!({"name": "HOTLINE"}));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let entries = json!({"entries": [
        {"signal_type": "md5", "value": hk["md5"], "category": "baseline",
         "verified_by": "analyst-1", "verified_at": "2026-11-01T00:00:00Z"},
        {"signal_type": "pdq", "value": flip(pdq_q, 20), "category": "baseline",
         "verified_by": "analyst-1", "verified_at": "2026-11-01T00:00:00Z"},
    ]});
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks/HOTLINE/entries", &entries);
    assert_eq!(st, StatusCode::OK, "{v}");
    let pdq_entry = v["results"][1]["id"].as_i64().unwrap();
    server::until("entries live", || !s.matches(&admin, &flip(pdq_q, 20)).is_empty());

    // Nothing matched, nothing flagged: nothing is stored.
    let (st, v) = submit(&s, &hoster, Some(&fresh), &meta("match", "fresh"));
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["stored"], false);
    assert!(files(&media_dir).is_empty());

    // An exact MD5 match of a verified baseline entry: confirmed, no person, nothing held.
    let (st, v) = submit(&s, &hoster, Some(&known), &meta("match", "known"));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let c = &v["case"];
    assert_eq!((c["state"].as_str(), c["resolution"].as_str()), (Some("confirmed"), Some("auto")));
    assert_eq!(c["category"], "baseline");
    assert_eq!(c["viewed_by_person"], false);
    assert_eq!(c["media_held"], false);
    assert_eq!(c["decided_by"], "system:auto");
    assert!(files(&media_dir).is_empty(), "known material is never held");

    // PDQ at distance 20: the review queue, the content held encrypted.
    let (st, v) = submit(&s, &hoster, Some(&queued), &meta("match", "queued"));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let q = v["case"].clone();
    assert_eq!(q["state"], "queued");
    assert_eq!(q["media_held"], true);
    assert_eq!(q["matches"][0]["entry_id"], pdq_entry);
    assert_eq!(q["matches"][0].get("distance"), None, "a matcher key sees no distances");
    assert_eq!(q["meta"]["content_ref"], "https://photos.example/queued");
    let held = files(&media_dir);
    assert_eq!(held.len(), 1);
    let stored = std::fs::read(&held[0]).unwrap();
    assert!(
        !stored.windows(16).any(|w| queued.windows(16).any(|p| p == w)),
        "no 16 bytes of the content are stored in clear"
    );
    assert!(!stored.windows(4).any(|w| w == b"IHDR"), "not even the PNG header");

    // The same content again while its case waits: it follows that case, holds nothing, and
    // is never queued for a second look.
    let (st, v) = submit(&s, &hoster, Some(&queued), &meta("match", "queued-again"));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let f = &v["case"];
    assert_eq!(
        (f["state"].as_str(), f["earlier_case"].as_i64()),
        (Some("following"), q["id"].as_i64())
    );
    assert_eq!(f["media_held"], false);
    assert!(v["message"].as_str().unwrap().contains("waiting for review as case"), "{v}");
    assert_eq!(files(&media_dir).len(), 1, "nothing more held");
    let (_, following) = s.get(Some(&admin), "/v1/cases?state=following");
    assert_eq!(following["cases"].as_array().unwrap().len(), 1, "{following}");

    // A user flag makes a case without a match; an undecodable file is kept with its digests.
    let (st, v) = submit(&s, &hoster, Some(b"not an image at all"), &meta("user_flag", "flag"));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["case"]["media_kind"].as_str(), v["case"]["state"].as_str()),
        (Some("file"), Some("queued"))
    );
    assert!(v["case"]["signals"].as_array().unwrap().iter().all(|x| x["signal_type"] != "pdq"));
    let (st, v) = submit(&s, &hoster, None, &meta("user_flag", "no-file"));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["case"]["media_kind"], "none");

    // A case on signals only: decided by a reviewer key; a case with content is not.
    let signals = json!({"meta": meta("match", "signals"),
        "signals": {"pdq": pdq_q}});
    let (st, v) = s.send("POST", Some(&hoster), "/v1/cases", &signals);
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let sig = v["case"]["id"].as_i64().unwrap();
    assert_eq!(v["case"]["state"], "queued");
    let decision = json!({"verdict": "confirm", "category": "baseline", "industry_class": "A1",
        "annotations": ["generativeAi"], "note": "checked against the hotline's record"});
    let (st, v) =
        s.send("POST", Some(&reviewer), &format!("/v1/cases/{}/decision", q["id"]), &decision);
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let (st, v) = s.send("POST", Some(&hoster), &format!("/v1/cases/{sig}/decision"), &decision);
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = s.send("POST", Some(&reviewer), &format!("/v1/cases/{sig}/decision"), &decision);
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["industry_class"].as_str()),
        (Some("confirmed"), Some("A1"))
    );
    assert_eq!(v["annotations"], json!(["generativeAi"]));
    assert_eq!(v["decisions"][0]["person"], "key:rev");
    let (st, v) = s.send("POST", Some(&reviewer), &format!("/v1/cases/{sig}/decision"), &decision);
    assert_eq!(st, StatusCode::CONFLICT, "a second decision: {v}");

    // Never view twice: the same picture, brightened, takes the decision made on its PDQ.
    let again = picture(2, 3);
    let ha = hashes(&s, &admin, &again);
    assert!(distance(ha["pdq"].as_str().unwrap(), pdq_q) <= 8, "{ha}");
    assert_ne!(ha["sha256"], hq["sha256"]);
    let (st, v) = submit(&s, &hoster, Some(&again), &meta("match", "again"));
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let c = &v["case"];
    assert_eq!(
        (c["resolution"].as_str(), c["earlier_case"].as_i64()),
        (Some("earlier"), Some(sig))
    );
    assert_eq!(
        (c["state"].as_str(), c["category"].as_str()),
        (Some("confirmed"), Some("baseline"))
    );
    assert_eq!(c["media_held"], false);
    assert_eq!(files(&media_dir).len(), 2, "the queued picture and the flagged file only");

    // Who reads what: a submitter its own cases, a reviewer every case, a hasher none.
    let (st, v) = s.get(Some(&hoster), "/v1/cases?limit=500");
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["cases"].as_array().unwrap().len(), 7);
    let (_, v) = s.get(Some(&other), "/v1/cases");
    assert_eq!(v["cases"].as_array().unwrap().len(), 0);
    let (st, _) = s.get(Some(&other), &format!("/v1/cases/{sig}"));
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = s.get(Some(&reviewer), "/v1/cases?state=queued&limit=2");
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["cases"].as_array().unwrap().len(), 2);
    let next = v["next_after"].as_i64().unwrap();
    let (_, v) = s.get(Some(&reviewer), &format!("/v1/cases?state=queued&after={next}"));
    assert_eq!(v["cases"].as_array().unwrap().len(), 1);
    assert_eq!(v.get("next_after"), None);
    let (st, _) = s.get(Some(&hasher), "/v1/cases");
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Bad input: each a clear 4xx, nothing stored.
    let before = s.get(Some(&admin), "/v1/cases?limit=500").1["cases"].as_array().unwrap().len();
    for (m, want) in [
        (json!({"reason": "match", "colour": "red"}), "unknown field"),
        (json!({"reason": "because"}), "meta.reason"),
        (json!({"reason": "user_flag", "upload_ip": "999.1.1.1"}), "upload_ip"),
        (json!({"reason": "user_flag", "uploaded_at": "yesterday"}), "uploaded_at"),
        (json!({"reason": "user_flag", "service": ""}), "service"),
    ] {
        let (st, v) = submit(&s, &hoster, Some(&fresh), &m);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{m}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(want), "{m}: {v}");
    }
    let resp = s
        .http
        .post(s.url("/v1/cases"))
        .bearer_auth(&hoster)
        .multipart(multipart::Form::new().part("file", multipart::Part::bytes(fresh.clone())))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "no meta");
    let resp = s.http.post(s.url("/v1/cases")).bearer_auth(&hoster).body("x").send().unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for bad in [
        json!({"meta": {"reason": "match"}, "signals": {}}),
        json!({"meta": {"reason": "match"}, "signals": {"pdq": "zz"}}),
        json!({"meta": {"reason": "match"}, "signals": [{"signal_type": "md5", "value": hk["md5"]},
                                                       {"signal_type": "md5", "value": hk["md5"]}]}),
        json!({"meta": {"reason": "match"}, "signals": {}, "extra": 1}),
    ] {
        let (st, v) = s.send("POST", Some(&hoster), "/v1/cases", &bad);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (st, v) = s.send("POST", Some(&reviewer), "/v1/cases/999999/decision", &decision);
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, v) = s.send(
        "POST",
        Some(&reviewer),
        &format!("/v1/cases/{sig}/decision"),
        &json!({"verdict": "confirm"}),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let after = s.get(Some(&admin), "/v1/cases?limit=500").1["cases"].as_array().unwrap().len();
    assert_eq!(after, before, "refused submissions stored nothing");
    assert_eq!(files(&media_dir).len(), 2);

    // Every case made and decided is in the audit log, by its actor.
    let (_, log) = s.get(Some(&admin), "/v1/audit?limit=1000");
    let actions: Vec<String> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["object_kind"] == "case")
        .map(|r| format!("{} {}", r["actor"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "hoster case_create").count(), 7, "{actions:?}");
    assert!(actions.contains(&"rev case_decide".to_string()), "{actions:?}");
    let metrics = s.http.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("spoor_case_submissions_total{outcome=\"auto\"} 1"), "{metrics}");
    // The error rates of real decisions: the exact MD5 match confirmed without review.
    let gauge = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        metrics.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix('{')?;
            let (set, value) = rest.split_once("} ")?;
            let all =
                labels.iter().all(|(k, v)| set.split(',').any(|p| p == format!("{k}=\"{v}\"")));
            all.then(|| value.parse().unwrap())
        })
    };
    let md5 = [("bank", "HOTLINE"), ("signal_type", "md5"), ("band", "exact")];
    let outcome = |o: &str| {
        let mut l = md5.to_vec();
        l.push(("outcome", o));
        gauge("spoor_case_outcomes", &l)
    };
    assert_eq!(outcome("confirmed_auto"), Some(1.0), "{metrics}");
    assert_eq!(outcome("false_positive"), Some(0.0), "{metrics}");
    assert_eq!(gauge("spoor_case_false_positive_ratio", &md5), Some(0.0), "{metrics}");
    let open: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("spoor_cases_open{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    let (_, listed) = s.get(Some(&admin), "/v1/cases?limit=500");
    let listed_open = listed["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            ["queued", "second_review", "escalated"].contains(&c["state"].as_str().unwrap())
        })
        .count();
    assert!(listed_open > 0);
    assert_eq!(open, listed_open as f64, "{metrics}");
    s.stop();
}

#[test]
fn cases_through_the_api_on_sqlite() {
    cases_through_the_api(Store::sqlite());
}

#[test]
fn cases_through_the_api_on_postgres() {
    if let Some(store) = Store::postgres() {
        cases_through_the_api(store);
    }
}

/// Without a media key, a case that must be reviewed cannot hold its content: 503, nothing
/// stored; known material is still confirmed (it holds nothing).
#[test]
fn without_a_media_key_review_cases_are_refused() {
    let store = Store::sqlite();
    let admin = store.key("admin", "admin", None);
    let s = Server::start(&store, &[]);
    let (st, v) = submit(&s, &admin, Some(&picture(9, 0)), &meta("user_flag", "x"));
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("--media-key-file"), "{v}");
    let (_, v) = s.get(Some(&admin), "/v1/cases");
    assert_eq!(v["cases"].as_array().unwrap().len(), 0);
    // Signals only need no key.
    let signals = json!({"meta": {"reason": "user_flag"},
        "signals": {"md5": "00112233445566778899aabbccddeeff"}});
    let (st, v) = s.send("POST", Some(&admin), "/v1/cases", &signals);
    assert_eq!(st, StatusCode::CREATED, "{v}");
}

/// Each bank names its review queue through the API (default `main`; a bad name or `senior`
/// is a 400 that changes nothing), and a case goes to the queue of the bank of its nearest
/// match needing review: a PDQ match at distance 20 of a `team-b` bank makes a `team-b` case,
/// a user flag a `main` one; of two banks matched, the nearer decides, whatever their names.
/// The OpenAPI document lists the setting.
fn review_queues_through_the_api(store: Store) {
    let media_key = store.dir.path().join("media.key");
    let out = store.spoor(&["keys", "media-keygen", "--out", media_key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = store.key("admin", "admin", None);
    let hoster = store.key("matcher", "hoster", None);
    let media_dir = store.dir.path().join("media");
    let s = Server::start(
        &store,
        &[
            "--media-key-file",
            media_key.to_str().unwrap(),
            "--media-dir",
            media_dir.to_str().unwrap(),
        ],
    );
    let team = json!({"name": "TEAM", "review_queue": "team-b"});
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks", &team);
    assert_eq!((st, v["review_queue"].as_str()), (StatusCode::CREATED, Some("team-b")), "{v}");
    let (st, v) = s.send("POST", Some(&admin), "/v1/banks", &json!({"name": "PLAIN"}));
    assert_eq!((st, v["review_queue"].as_str()), (StatusCode::CREATED, Some("main")), "{v}");
    // Bad names are 400s naming the problem, and change nothing.
    for (bad, says) in [
        (json!("Team B"), "invalid queue name"),
        (json!(""), "invalid queue name"),
        (json!("q".repeat(33)), "invalid queue name"),
        (json!("senior"), "escalations"),
        (json!(7), "review_queue"),
    ] {
        let (st, v) =
            s.send("POST", Some(&admin), "/v1/banks", &json!({"name": "BAD", "review_queue": bad}));
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(says), "{bad}: {v}");
        let patch = json!({"reason": "try", "review_queue": bad});
        let (st, v) = s.send("PATCH", Some(&admin), "/v1/banks/TEAM", &patch);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(says), "{bad}: {v}");
    }
    assert_eq!(s.get(Some(&admin), "/v1/banks/BAD").0, StatusCode::NOT_FOUND);
    let patch = json!({"reason": "team c for a week", "review_queue": "team-c"});
    let (st, v) = s.send("PATCH", Some(&admin), "/v1/banks/TEAM", &patch);
    assert_eq!((st, v["review_queue"].as_str()), (StatusCode::OK, Some("team-c")), "{v}");
    let patch = json!({"reason": "back to team b", "review_queue": "team-b"});
    let (st, _) = s.send("PATCH", Some(&admin), "/v1/banks/TEAM", &patch);
    assert_eq!(st, StatusCode::OK);
    let (_, v) = s.get(Some(&admin), "/v1/banks");
    let queues: Vec<(&str, &str)> = v["banks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap(), b["review_queue"].as_str().unwrap()))
        .collect();
    assert_eq!(queues, [("PLAIN", "main"), ("TEAM", "team-b")]);

    // Cases: TEAM's match alone; PLAIN's alone; both, TEAM's nearer; a user flag.
    let pics: Vec<Vec<u8>> = (31..34).map(|n| picture(n, 0)).collect();
    let pdq: Vec<String> =
        pics.iter().map(|p| hashes(&s, &admin, p)["pdq"].as_str().unwrap().to_string()).collect();
    let entry = |v: String| json!({"signal_type": "pdq", "value": v, "category": "baseline"});
    let add = |bank: &str, values: Vec<String>| {
        let body = json!({"entries": values.into_iter().map(entry).collect::<Vec<_>>()});
        let (st, v) = s.send("POST", Some(&admin), &format!("/v1/banks/{bank}/entries"), &body);
        assert_eq!(st, StatusCode::OK, "{v}");
    };
    add("TEAM", vec![flip(&pdq[0], 20), flip(&pdq[2], 16)]);
    add("PLAIN", vec![flip(&pdq[1], 20), flip(&pdq[2], 24)]);
    server::until("entries live", || s.matches(&admin, &flip(&pdq[2], 24)).len() == 2);
    let queue_of = |pic: &[u8], item: &str, reason: &str| {
        let (st, v) = submit(&s, &hoster, Some(pic), &meta(reason, item));
        assert_eq!((st, v["case"]["state"].as_str()), (StatusCode::CREATED, Some("queued")), "{v}");
        v["case"]["queue"].as_str().unwrap().to_string()
    };
    assert_eq!(queue_of(&pics[0], "team", "match"), "team-b");
    assert_eq!(queue_of(&pics[1], "plain", "match"), "main");
    assert_eq!(queue_of(&pics[2], "both", "match"), "team-b");
    assert_eq!(queue_of(&picture(40, 0), "flag", "user_flag"), "main");

    // The setting in the OpenAPI document.
    let (st, doc) = s.get(None, "/openapi.json");
    assert_eq!(st, StatusCode::OK);
    for schema in ["BankCreate", "BankPatch", "BankOut"] {
        let q = &doc["components"]["schemas"][schema]["properties"]["review_queue"];
        assert!(q["description"].as_str().unwrap().contains("queue"), "{schema}: {q}");
    }
    s.stop();
}

#[test]
fn review_queues_through_the_api_on_sqlite() {
    review_queues_through_the_api(Store::sqlite());
}

#[test]
fn review_queues_through_the_api_on_postgres() {
    if let Some(store) = Store::postgres() {
        review_queues_through_the_api(store);
    }
}
